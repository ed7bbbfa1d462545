"""The report of a real (tiny) run opened in headless Chromium: it loads without console errors
and shows the metrics table and decoded overlay images.

Needs Debian's ``chromium``; skipped without it, except under CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sparseg.reporting.report import CONTENT_SECURITY_POLICY, render_report
from tests.helpers import tiny_config

pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)
# Runs after the load event (Chromium dumps the DOM after it) and writes what it measured into
# attributes of <body>, which --dump-dom prints.
PROBE = """
window.addEventListener("load", () => {
  const shown = (image) => image.complete && image.naturalWidth > 0;
  const images = [...document.images];
  const metrics = document.querySelector("table.metrics");
  Object.assign(document.body.dataset, {
    decoded: `${images.filter(shown).length}/${images.length}`,
    overlays: images.filter((image) => image.classList.contains("overlay") && shown(image)).length,
    metricsRows: metrics ? metrics.tBodies[0].rows.length : 0,
    metricsHeight: metrics ? Math.round(metrics.getBoundingClientRect().height) : 0,
  });
});
"""


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail("CI: chromium is not installed (apt-get install -y chromium)")
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    return path


@pytest.fixture(scope="module")
def report(chromium, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny real run (16 synthetic 64x64 images): train, tune, evaluate, report."""
    from sparseg.data.synthetic import synthesize
    from sparseg.inference.evaluate import evaluate_runs
    from sparseg.inference.tune import tune
    from sparseg.training import train

    root = tmp_path_factory.mktemp("report_run")
    synthesize(root / "data", n=16, size=(64, 64), fg=0.04, empty=0.2, seed=0)
    train(tiny_config("data.test_fraction=0.25"), root / "data", root / "run", quiet=True)
    tune(root / "run", root / "data")
    evaluate_runs([root / "run"], root / "data")
    return render_report(root / "run", root / "report.html", data_root=root / "data")


def open_in_chromium(chromium: str, page: Path, profile: Path) -> tuple[str, list[str]]:
    """The DOM after load, and the console messages (any: the report has no scripts)."""
    result = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    console = [
        line for line in result.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line
    ]
    return result.stdout, console


def with_probe(html: str) -> str:
    """The page plus :data:`PROBE`, which the page's policy allows by its hash and nothing else."""
    digest = base64.b64encode(hashlib.sha256(PROBE.encode()).digest()).decode()
    policy = f"{CONTENT_SECURITY_POLICY}; script-src 'sha256-{digest}'"
    assert f'content="{CONTENT_SECURITY_POLICY}"' in html
    html = html.replace(f'content="{CONTENT_SECURITY_POLICY}"', f'content="{policy}"')
    return html.replace("</body>", f"<script>{PROBE}</script></body>")


def body_data(dom: str) -> dict[str, str]:
    body = re.search(r"<body([^>]*)>", dom)
    assert body, dom[:500]
    return dict(re.findall(r'data-([\w-]+)="([^"]*)"', body.group(1)))


def test_report_loads_without_console_errors(chromium, report, tmp_path) -> None:
    dom, console = open_in_chromium(chromium, report, tmp_path / "profile")
    assert console == []
    assert '<table class="metrics">' in dom
    assert re.search(r'<img class="overlay" src="data:image/png;base64,[^"]+" alt="', dom)


def test_metrics_table_and_every_image_render(chromium, report, tmp_path) -> None:
    page = tmp_path / "probed.html"
    page.write_text(with_probe(report.read_text()))
    dom, console = open_in_chromium(chromium, page, tmp_path / "profile")
    assert console == []
    data = body_data(dom)
    decoded, total = (int(n) for n in data["decoded"].split("/"))
    assert decoded == total >= 4  # the curves and at least one case (three panels)
    assert int(data["overlays"]) >= 3
    assert int(data["metrics-rows"]) >= 4 and int(data["metrics-height"]) > 0


def test_the_checks_catch_a_broken_page(chromium, tmp_path) -> None:
    """The same checks on a page with an external image, a corrupt image and a script error."""
    html = (
        f'<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
        f'content="{CONTENT_SECURITY_POLICY}"></head><body>'
        '<img src="https://example.invalid/x.png"><img class="overlay" '
        'src="data:image/png;base64,AAAA"></body></html>'
    )
    page = tmp_path / "broken.html"
    page.write_text(with_probe(html).replace("</body>", "<script>missing()</script></body>"))
    dom, console = open_in_chromium(chromium, page, tmp_path / "profile")
    assert any("violates the following Content Security Policy" in line for line in console)
    assert any("example.invalid" in line for line in console)
    data = body_data(dom)
    assert data["decoded"] == "0/2" and data["overlays"] == "0" and data["metrics-rows"] == "0"
