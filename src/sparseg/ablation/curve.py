"""The time–quality curve: one ladder swept at several wall-clock budgets, test Dice vs minutes.

Each budget is an ordinary sweep in ``OUT/<minutes>min/`` (resumable, committable like any
other); ``curve.{csv,md,png}`` are built from those sweeps' ``ablation.csv`` files alone, so a
curve finished on another machine renders from committed files. The reading answers "after how
many minutes does the heavier stage overtake the lighter one?" with paired-seed intervals.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from pathlib import Path

from sparseg.ablation.layout import SweepPaths
from sparseg.ablation.rows import SweepRow, read_csv
from sparseg.ablation.runner import AblationResult, SweepSettings, run_ablation
from sparseg.ablation.stats import mean_interval, paired_gain
from sparseg.errors import SparsegError
from sparseg.io_utils import atomic_write, atomic_write_text, ensure_output_dir
from sparseg.run_layout import HEADLINE_METRIC

CURVE_NAMES = ("curve.csv", "curve.md", "curve.png")
CURVE_COLUMNS = (
    "minutes",
    "stage",
    "seed",
    HEADLINE_METRIC,
    "steps",
    "late_gain",
    "converged",
    "stalled",
    "blank",
)


@dataclass(frozen=True)
class CurvePoint:
    """A finished run of the sweep at ``minutes`` per training."""

    minutes: float
    row: SweepRow

    @property
    def did_not_learn(self) -> bool:
        """It stalled at its start or predicted nothing (:mod:`sparseg.ablation.outputs`)."""
        return self.row.stalled > 0 or self.row.blank > 0

    def cells(self) -> list[str]:
        row = self.row
        values = [self.minutes, row.stage, row.seed, row.score(HEADLINE_METRIC), row.steps]
        values += [row.late_gain, row.converged, row.stalled, row.blank]
        return [_cell(value) for value in values]


def budget_folder(out_dir: Path, minutes: float) -> Path:
    return Path(out_dir) / f"{minutes:g}min"


def parse_budgets(text: str) -> list[float]:
    """``"2,5,15"`` → ``[2.0, 5.0, 15.0]`` (sorted, distinct, positive)."""
    try:
        budgets = sorted({float(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise SparsegError(f"--budgets {text}: expected minutes separated by commas") from None
    if not budgets or budgets[0] <= 0:
        raise SparsegError(f"--budgets {text}: expected positive minutes, e.g. 2,5,15")
    return budgets


def run_curve(
    data: Path, ladder: Path, out_dir: Path, budgets: list[float], settings: SweepSettings
) -> list[AblationResult]:
    """Sweep the ladder once per budget (``settings.minutes_per_run`` is replaced), then write
    the curve from the finished runs; printing commands or writing SLURM scripts draws none."""
    if settings.minutes_per_run is not None:
        raise SparsegError("--budgets and --minutes-per-run: give one of them")
    out_dir = ensure_output_dir(out_dir, Path(data).resolve())
    results = [
        run_ablation(
            data,
            ladder,
            budget_folder(out_dir, minutes),
            replace(settings, minutes_per_run=minutes),
        )
        for minutes in budgets
    ]
    if not settings.emit_commands and settings.launcher == "local":
        results[-1].outputs = [*results[-1].outputs, *write_curve(out_dir, budgets)]
    return results


def write_curve(out_dir: Path, budgets: list[float]) -> list[Path]:
    """``curve.csv``, ``curve.md`` and ``curve.png`` from the budgets' ``ablation.csv`` files."""
    out_dir = Path(out_dir)
    rows = [
        CurvePoint(minutes, row)
        for minutes in budgets
        for row in read_csv(SweepPaths(budget_folder(out_dir, minutes)).csv)
        if row.status == "done"
    ]
    stages = list(dict.fromkeys(point.row.stage for point in rows))
    lines = [",".join(CURVE_COLUMNS)]
    lines += [",".join(point.cells()) for point in rows]
    paths = [out_dir / name for name in CURVE_NAMES]
    atomic_write_text(paths[0], "\n".join(lines) + "\n")
    atomic_write_text(paths[1], render_curve_markdown(rows, stages, budgets))
    _render_chart(rows, stages, budgets, paths[2])
    return paths


def render_curve_markdown(rows: list[CurvePoint], stages: list[str], budgets: list[float]) -> str:
    scores = _scores(rows)
    header = "| stage | " + " | ".join(f"{minutes:g} min" for minutes in budgets) + " |"
    lines = [
        "# Time–quality curve",
        "",
        f"Test `{HEADLINE_METRIC}` per wall-clock budget of each training: mean over seeds "
        "[95 % t-interval of the mean], steps in brackets; * = runs that had not converged "
        "(validation Dice still rising over the last 20 % of the budget); † = runs that stalled "
        "(best validation in the first 10 % of steps, never beaten after, or never 0.01) or "
        "predicted no foreground on any test image.",
        "",
        header,
        "|---|" + "---|" * len(budgets),
    ]
    for stage in stages:
        cells = []
        for minutes in budgets:
            by_seed = scores.get((stage, minutes), {})
            if not by_seed:
                cells.append("–")
                continue
            values = [point.row.score(HEADLINE_METRIC) for point in by_seed.values()]
            mean, low, high = mean_interval(values)
            steps = sum(point.row.steps for point in by_seed.values()) / len(by_seed)
            bound = "*" if any(point.row.converged == 0 for point in by_seed.values()) else ""
            bound += "†" if any(point.did_not_learn for point in by_seed.values()) else ""
            interval = "" if math.isnan(low) else f" [{low:.3f}, {high:.3f}]"
            cells.append(f"{mean:.3f}{interval} ({steps:,.0f}){bound}")
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    lines += ["", "## Reading (paired seeds: the same seed's runs of two stages)", ""]
    lines += [  # every pair: "does the recipe overtake basic?" skips the stage between them
        f"- {crossing_reading(scores, lighter, heavier, budgets)}"
        for lighter, heavier in itertools.combinations(stages, 2)
    ]
    return "\n".join(lines) + "\n"


def crossing_reading(
    scores: dict[tuple[str, float], dict[int, CurvePoint]],
    lighter: str,
    heavier: str,
    budgets: list[float],
) -> str:
    """When ``heavier`` overtakes ``lighter``: the first budget whose paired gain's 95 % interval
    lies above zero; else where it is ahead within noise, or that it never is."""
    gains = []
    for minutes in budgets:
        a, b = scores.get((lighter, minutes), {}), scores.get((heavier, minutes), {})
        seeds = sorted(set(a) & set(b))
        if seeds:
            before = [a[s].row.score(HEADLINE_METRIC) for s in seeds]
            gain = paired_gain(before, [b[s].row.score(HEADLINE_METRIC) for s in seeds])
            gains.append((minutes, gain, len(seeds)))
    if not gains:
        return f"**{heavier}** vs **{lighter}**: no paired runs yet."
    shown = "; ".join(
        f"{minutes:g} min {gain[0]:+.3f}"
        + ("" if math.isnan(gain[1]) else f" [{gain[1]:+.3f}, {gain[2]:+.3f}]")
        for minutes, gain, _ in gains
    )
    above = next((minutes for minutes, gain, _ in gains if gain[1] > 0), None)
    below_all = all(gain[2] < 0 for _, gain, _ in gains)
    if above is not None:
        verdict = f"overtakes it from {above:g} min"
    elif below_all:
        verdict = "stays behind at every budget measured"
    elif any(gain[0] > 0 for _, gain, _ in gains):
        verdict = "is ahead somewhere, but within noise"
    else:
        verdict = "does not overtake it within noise at any budget measured"
    return f"**{heavier}** vs **{lighter}**: {verdict} (gain {shown})."


def _scores(rows: list[CurvePoint]) -> dict[tuple[str, float], dict[int, CurvePoint]]:
    scores: dict[tuple[str, float], dict[int, CurvePoint]] = {}
    for point in rows:
        scores.setdefault((point.row.stage, point.minutes), {})[point.row.seed] = point
    return scores


def _cell(value: float | int | str) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def _render_chart(
    rows: list[CurvePoint], stages: list[str], budgets: list[float], path: Path
) -> None:
    import matplotlib  # here, not at import: only the curve draws

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = _scores(rows)
    figure, axes = plt.subplots(figsize=(7.0, 4.5), dpi=110)
    for offset, stage in enumerate(stages):
        points = [
            (m, [p.row.score(HEADLINE_METRIC) for p in scores[(stage, m)].values()])
            for m in budgets
            if (stage, m) in scores
        ]
        if not points:
            continue
        shift = 1.0 + 0.03 * (offset - (len(stages) - 1) / 2)  # side by side on a log axis
        xs = [m * shift for m, _ in points]
        stats = [mean_interval(values) for _, values in points]
        means = [s[0] for s in stats]
        errors = [
            [0.0 if math.isnan(s[1]) else s[0] - s[1] for s in stats],
            [0.0 if math.isnan(s[2]) else s[2] - s[0] for s in stats],
        ]
        axes.errorbar(xs, means, yerr=errors, marker="o", capsize=4, label=stage)
        for x, (_, values) in zip(xs, points, strict=True):
            axes.plot([x] * len(values), values, ".", color="0.5", ms=3)
    axes.set_xscale("log")
    axes.set_xticks(budgets)
    axes.set_xticklabels([f"{m:g}" for m in budgets])
    axes.set_xlabel("wall-clock minutes of training per run")
    axes.set_ylabel(f"test {HEADLINE_METRIC}")
    axes.set_ylim(0.0, 1.0)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    axes.set_title("Test Dice vs training minutes (mean, 95 % interval; dots: seeds)")
    figure.tight_layout()
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png"))
    plt.close(figure)
