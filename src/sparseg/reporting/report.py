"""``sparseg report``: one self-contained HTML page about a run (images embedded, CSS inline).

The page loads nothing: its Content-Security-Policy allows only inline styles and ``data:``
images, so a browser refuses (and logs) anything else, and it has no scripts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from string import Template

from sparseg import __version__
from sparseg.errors import SparsegError
from sparseg.io_utils import atomic_write_text
from sparseg.reporting import sections
from sparseg.reporting.markup import text
from sparseg.run_layout import RunPaths

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'"
)

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="$policy">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>$css</style>
</head>
<body>
<header><h1>$title</h1><p class="note">$subtitle</p><nav>$nav</nav></header>
<main>
$body
</main>
</body>
</html>
""")

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f;
       margin: 0 auto; max-width: 1180px; padding: 0 20px 40px; }
h1 { font-size: 22px; margin: 24px 0 4px; }
h2 { font-size: 18px; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 32px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
h4 { font-size: 13px; margin: 10px 0 4px; font-weight: 600; }
nav a { margin-right: 14px; color: #0b5cad; text-decoration: none; }
.note { color: #666; }
table { border-collapse: collapse; margin: 8px 0 16px; }
caption { caption-side: top; text-align: left; color: #444; padding: 4px 0; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f5f7; }
table.metrics td:nth-child(2), table.metrics td:nth-child(3),
table.decisions td:nth-child(3), table.decisions td:nth-child(4) {
  font-variant-numeric: tabular-nums; white-space: nowrap; }
table.settings td:first-child { color: #444; }
pre { background: #f6f8fa; padding: 10px; overflow-x: auto; font-size: 12px; }
details summary { cursor: pointer; color: #0b5cad; }
img.curves, img.chart { max-width: 100%; height: auto; }
.case { display: inline-block; margin: 0 18px 14px 0; vertical-align: top; }
.panels { display: flex; gap: 6px; }
figure { margin: 0; text-align: center; font-size: 12px; color: #444; }
img.overlay { width: 180px; height: auto; image-rendering: pixelated; border: 1px solid #ccc; }
"""

Section = tuple[str, str, Callable[[], str]]


def render_report(
    run_dir: Path,
    out_html: Path,
    ablation_dir: Path | None = None,
    data_root: Path | None = None,
) -> Path:
    """Write the HTML report of ``run_dir`` to ``out_html`` (atomically) and return its path.

    Sections: configuration, training curves, metrics of every ``eval_<subset>/`` folder, best and
    worst cases (needs the data set: ``data_root``, or one recorded in the run), tuning decisions,
    and the ablation chart and table of ``ablation_dir`` when given. A section whose files are
    missing says which command produces them.

    Example:
        >>> render_report(Path("runs/nerve"), Path("runs/nerve/report.html"))
    """
    run_dir, out_html = Path(run_dir), Path(out_html)
    if not run_dir.is_dir():
        raise SparsegError(f"{run_dir}: run folder not found")
    paths = RunPaths(run_dir)
    if not (paths.config.is_file() or paths.metrics_csv.is_file()):
        raise SparsegError(f"{run_dir}: not a sparseg run (no config.yaml or metrics.csv)")
    if out_html.is_dir():
        raise SparsegError(f"{out_html}: is a folder; give the HTML file to write")

    parts: list[Section] = [
        ("config", "Configuration", lambda: sections.config_section(run_dir)),
        ("training", "Training", lambda: sections.training_section(run_dir)),
        ("metrics", "Metrics", lambda: sections.metrics_section(run_dir)),
        ("cases", "Best and worst cases", lambda: sections.cases_section(run_dir, data_root)),
        ("tuning", "Inference tuning", lambda: sections.tuning_section(run_dir)),
    ]
    if ablation_dir is not None:
        parts.append(
            ("ablation", "Ablation", lambda: sections.ablation_section(Path(ablation_dir)))
        )

    body = "\n".join(
        f'<section id="{anchor}"><h2>{text(title)}</h2>{build()}</section>'
        for anchor, title, build in parts
    )
    nav = "".join(f'<a href="#{anchor}">{text(title)}</a>' for anchor, title, _ in parts)
    page = PAGE.substitute(
        policy=CONTENT_SECURITY_POLICY,
        title=text(f"sparseg report: {run_dir.resolve().name}"),
        subtitle=text(f"run {run_dir.resolve()} · sparseg {__version__}"),
        nav=nav,
        css=CSS,
        body=body,
    )
    atomic_write_text(out_html, page)
    return out_html
