"""The sweep's outputs, rendered in one place (:func:`write_outputs`): ``ablation.csv`` (every
run), ``ablation.md`` (per stage) and ``ablation.png`` (Dice per stage with error bars beside the
claimed ranges).

They are rendered from the rows plus ``ablation_plan.json`` (the resolved stages: names, claims,
skip reasons, comparisons); :func:`render_ablation` takes the rows from the run folders or from
``ablation.csv``, so a finished or half-finished sweep can be rendered again any time.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sparseg.ablation.layout import SweepPaths
from sparseg.ablation.manifest import Range, StageRecord, SweepManifest
from sparseg.ablation.rows import SCORES, SweepRow, collect_rows, read_csv, write_csv
from sparseg.ablation.stats import claim_verdict, mean_std, paired_gain
from sparseg.evaluation.aggregate import CONVENTIONS, NEARLY_BLANK_RECALL
from sparseg.io_utils import atomic_write, atomic_write_text
from sparseg.run_layout import HEADLINE_METRIC
from sparseg.training.convergence import (
    CONVERGED_BELOW,
    EARLY_SHARE,
    LATE_SHARE,
    NEVER_LEARNED_BELOW,
)

HEADER_TAIL = " | steps | epochs | converged |"


@dataclass
class StageSummary:
    stage: StageRecord
    rows: list[SweepRow]
    done: dict[int, SweepRow]  # seed → row of a finished run
    gain: tuple[float, float, float] | None
    gain_pairs: int
    compare_name: str | None

    def score(self, name: str) -> tuple[float, float]:
        return mean_std([row.score(name) for row in self.done.values()])

    def mean_steps(self) -> float:
        return mean_std([row.steps for row in self.done.values()])[0]

    def mean_epochs(self) -> float:
        return mean_std([row.epochs for row in self.done.values()])[0]

    def convergence(self) -> tuple[int, int]:
        """(converged runs, finished runs whose convergence is known)."""
        known = [row.converged for row in self.done.values() if not math.isnan(row.converged)]
        return sum(1 for flag in known if flag), len(known)

    def stalled(self) -> int:
        """Finished runs with a training that stalled at its start (see ``stall_warning``)."""
        return sum(1 for row in self.done.values() if row.stalled > 0)

    def blank(self) -> int:
        """Finished runs that marked no pixel on any test image although the test set has
        targets, or under a tenth of the target pixels (``sparseg.evaluation.blank_verdict``):
        on data with empty images their validation Dice is the empty share, so a flat curve
        there says nothing about learning."""
        return sum(1 for row in self.done.values() if row.blank > 0)

    def restarted(self) -> int:
        """Finished runs whose training the blank guard restarted at least once."""
        return sum(1 for row in self.done.values() if row.restarts > 0)

    @property
    def budget_bound(self) -> bool:
        converged, known = self.convergence()
        return converged < known


# ---------------------------------------------------------------- summaries
def summarize(rows: list[SweepRow], manifest: SweepManifest) -> list[StageSummary]:
    """Per stage: its runs, the finished ones by seed, and the paired gain on the headline."""
    summaries: dict[str, StageSummary] = {}
    for stage in manifest.stages:
        own = [row for row in rows if row.slug == stage.slug]
        done = {row.seed: row for row in own if row.status == "done"}
        summaries[stage.slug] = StageSummary(stage, own, done, None, 0, None)
    for summary in summaries.values():
        reference = summaries.get(summary.stage.compare_to or "")
        if reference is None or summary.stage.skipped:
            continue
        seeds = sorted(set(summary.done) & set(reference.done))
        before = [reference.done[seed].score(HEADLINE_METRIC) for seed in seeds]
        after = [summary.done[seed].score(HEADLINE_METRIC) for seed in seeds]
        summary.gain = paired_gain(before, after) if seeds else None
        summary.gain_pairs = len(seeds)
        summary.compare_name = reference.stage.name
    return list(summaries.values())


# ---------------------------------------------------------------- markdown
def render_markdown(summaries: list[StageSummary], manifest: SweepManifest) -> str:
    leave_one_out = manifest.mode == "leave_one_out"
    settings = manifest.settings
    minutes, steps = settings.minutes_per_run, settings.steps_per_run
    limits = [f"{minutes:g} min wall-clock"] if minutes else []
    budget = " and ".join(limits + ([f"{steps:,} optimizer steps"] if steps else []))
    seeds = manifest.seeds
    lines = [
        f"# Ablation: {Path(manifest.ladder).stem}",
        "",
        f"Data `{settings.data}`, ladder `{manifest.ladder}` "
        f"(mode {manifest.mode}), seeds {', '.join(map(str, seeds))}, "
        + (f"a budget of {budget} per training run." if budget else "no time budget."),
        f"Every run is tested on the same {_test_count(summaries)} images "
        f"(split `{settings.split}`).",
        "",
        "## Test Dice per stage (mean ± std over seeds)",
        "",
        "| stage | runs | " + " | ".join(f"`{name}`" for name in SCORES) + HEADER_TAIL,
        "|---|---|" + "---|" * len(SCORES) + "---|---|---|",
    ]
    for summary in summaries:
        cells = [_mean_std_text(*summary.score(name)) for name in SCORES]
        cells += [_count(summary.mean_steps()), _count(summary.mean_epochs())]
        cells.append(_converged_text(summary))
        if summary.stage.skipped:
            cells = ["—"] * len(cells)
        runs = "skipped" if summary.stage.skipped else f"{len(summary.done)}/{len(seeds)}"
        lines.append(f"| {summary.stage.name} | {runs} | " + " | ".join(cells) + " |")
    lines += ["", *(f"- `{name}`: {meaning}" for name, meaning in CONVENTIONS.items())]
    lines += [
        "- `object_f1`: object-level detection F1 (IoU-matched components)",
        f"- steps, epochs: mean over the stage's runs; converged: runs whose best validation Dice "
        f"rose by less than {CONVERGED_BELOW} over the last {LATE_SHARE:.0%} of their steps, out "
        "of those validated often enough to tell; stalled: runs whose best validation came in "
        f"the first {EARLY_SHARE:.0%} of their steps and was never beaten after (their "
        "best.ckpt is a network from the start of training), or never reached "
        f"{NEVER_LEARNED_BELOW} Dice: they did not learn; blank: runs that predicted no "
        "foreground on any test image although the test set has targets, or under "
        f"{NEARLY_BLANK_RECALL:.0%} of its target pixels (nearly blank; on data with empty "
        "images a blank network's validation Dice is the empty share: its curve looks "
        "converged); restarted: runs whose network the blank guard restarted from another "
        "seed at a lower LR (training.blank_guard; train_summary.json lists when)",
        "",
    ]
    against = "the full recipe (first stage)" if leave_one_out else "the previous measured stage"
    lines += [
        "## Gains and claims",
        "",
        f"On `{HEADLINE_METRIC}`. The gain is the mean paired difference to {against} over the "
        "seeds both finished, with a 95 % Student-t interval (n/a with fewer than two pairs).",
        "",
        "| stage | mean | gain [95 % interval] | vs | claimed Dice | verdict | claimed gain "
        "| verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for summary in summaries:
        lines.append(_claims_row(summary))
    lines += _notes(summaries, seeds)
    return "\n".join(lines) + "\n"


def _claims_row(summary: StageSummary) -> str:
    stage = summary.stage
    mean = summary.score(HEADLINE_METRIC)[0]
    if stage.skipped:
        return f"| {stage.name} | skipped | — | — | {_range(stage.claim)} | n/a | — | n/a |"
    gain_text, gain_verdict = "—", "n/a"
    if summary.gain is not None:
        gain_mean, low, high = summary.gain
        interval = "n/a" if math.isnan(low) else f"{_signed(low)}, {_signed(high)}"
        gain_text = f"{_signed(gain_mean)} [{interval}] (n={summary.gain_pairs})"
        gain_verdict = claim_verdict(gain_mean, stage.claim_gain)
    return (
        f"| {stage.name} | {_number(mean)} | {gain_text} | {summary.compare_name or '—'} | "
        f"{_range(stage.claim)} | {_bounded(summary, claim_verdict(mean, stage.claim))} | "
        f"{_range(stage.claim_gain, signed=True)} | {_bounded(summary, gain_verdict)} |"
    )


def _bounded(summary: StageSummary, verdict: str) -> str:
    """A claim missed by runs that were still learning says so, not that it failed."""
    return "budget-bound" if verdict == "below" and summary.budget_bound else verdict


def _notes(summaries: list[StageSummary], seeds: list[int]) -> list[str]:
    names = {summary.stage.slug: summary.stage.name for summary in summaries}
    notes, skipped, unfinished = [], [], []
    for summary in summaries:
        stage = summary.stage
        if stage.note:
            notes.append(f"- **{stage.name}**: {stage.note}")
        if stage.reuses:
            notes.append(
                f"- **{stage.name}** evaluates the models trained for "
                f"**{names.get(stage.reuses, stage.reuses)}** (same training; only "
                "inference differs), so its gain is exactly the inference change."
            )
        if stage.skipped:
            skipped.append(f"- **{stage.name}**: {stage.skipped}")
            continue
        finished = {row.seed: row for row in summary.rows}
        for seed in seeds:
            status = finished[seed].status if seed in finished else "not run"
            if status != "done":
                unfinished.append(f"- **{stage.name}**, seed {seed}: {status}")
    sections = [("Notes", notes), ("Trained at another precision", _other_precision(summaries))]
    sections += [("Skipped stages", skipped), ("Unfinished runs", unfinished)]
    return [line for title, items in sections if items for line in ("", f"## {title}", "", *items)]


def _other_precision(summaries: list[StageSummary]) -> list[str]:
    """Finished runs trained at another precision than most (a sweep finished on another
    machine, a GPU's bf16 beside a CPU's float32): their stage's mean mixes the two."""
    trained_at = {
        (summary.stage.name, seed): row.precision or "?"
        for summary in summaries
        for seed, row in summary.done.items()
    }
    counts = Counter(trained_at.values()).most_common()
    if len(counts) < 2:
        return []
    usual = counts[0][0]
    heading = f"Most runs trained at `{usual}`; these at another (gains across it mix the two):"
    return [heading, ""] + [
        f"- **{name}**, seed {seed}: `{precision}`"
        for (name, seed), precision in trained_at.items()
        if precision != usual
    ]


def _converged_text(summary: StageSummary) -> str:
    converged, known = summary.convergence()
    if not known:
        return "n/a"
    failed = f", {summary.stalled()} stalled" if summary.stalled() else ""
    failed += f", {summary.blank()} blank" if summary.blank() else ""
    failed += f", {summary.restarted()} restarted" if summary.restarted() else ""
    return f"{converged}/{known}" + (" (budget-bound)" if converged < known else "") + failed


def _count(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.0f}"


def _test_count(summaries: list[StageSummary]) -> str:
    counts = {row.n_test_images for s in summaries for row in s.done.values()}
    counts = {int(c) for c in counts if not math.isnan(c)}
    return "/".join(str(c) for c in sorted(counts)) or "the"


def _number(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def _signed(value: float) -> str:
    return f"{value:+.3f}"


def _mean_std_text(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "n/a"
    return _number(mean) + ("" if math.isnan(std) else f" ± {std:.3f}")


def _range(value: Range | None, signed: bool = False) -> str:
    if not value:
        return "—"
    show = _signed if signed else _number
    return f"{show(value[0])} – {show(value[1])}"


# ---------------------------------------------------------------- chart
def render_chart(summaries: list[StageSummary], path: Path) -> None:
    """Bars of the headline Dice (mean ± std, seeds as dots) with the claimed range beside each."""
    import matplotlib  # here, not at import: the sweep's helper processes never draw

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    figure, axes = plt.subplots(figsize=(max(7.0, 1.2 * len(summaries) + 4), 4.8), dpi=110)
    width = 0.55
    for x, summary in enumerate(summaries):
        claim = summary.stage.claim
        if claim is not None:
            corner = (x + width / 2 + 0.04, claim[0])
            height = claim[1] - claim[0]
            span = Rectangle(corner, 0.16, height, color="tab:orange", alpha=0.45, linewidth=0)
            axes.add_patch(span)
        if summary.stage.skipped:
            axes.text(x, 0.02, "skipped", rotation=90, ha="center", va="bottom", color="0.4")
            continue
        mean, std = summary.score(HEADLINE_METRIC)
        if math.isnan(mean):
            axes.text(x, 0.02, "no runs", rotation=90, ha="center", va="bottom", color="0.4")
            continue
        axes.bar(x, mean, width, color="tab:blue", alpha=0.85)
        if not math.isnan(std):
            axes.errorbar(x, mean, yerr=std, color="black", capsize=4, linewidth=1.2)
        values = [row.score(HEADLINE_METRIC) for row in summary.done.values()]
        axes.plot([x] * len(values), values, "o", color="white", markeredgecolor="black", ms=4)
        gain_claim = summary.stage.claim_gain
        if gain_claim is not None:
            label = f"claimed gain\n{gain_claim[0]:+.2f} to {gain_claim[1]:+.2f}"
            top = min(mean + (0 if math.isnan(std) else std) + 0.03, 0.9)
            axes.text(x, top, label, ha="center", va="bottom", fontsize=7, color="tab:orange")
    axes.set_xticks(range(len(summaries)))
    axes.set_xticklabels([s.stage.name for s in summaries], rotation=25, ha="right")
    axes.set_xlim(-0.6, len(summaries) - 0.2)
    axes.set_ylim(0.0, 1.0)
    axes.set_ylabel(f"test {HEADLINE_METRIC}")
    axes.set_title("Dice per stage: measured (mean ± std over seeds) vs claimed")
    axes.grid(axis="y", alpha=0.3)
    axes.legend(
        handles=[
            Patch(color="tab:blue", alpha=0.85, label="measured mean ± std (dots: seeds)"),
            Patch(color="tab:orange", alpha=0.45, label="claimed range"),
        ],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=8,
    )
    figure.tight_layout()
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png"))
    plt.close(figure)


# ---------------------------------------------------------------- all of them
def write_outputs(out_dir: Path, rows: list[SweepRow], manifest: SweepManifest) -> list[Path]:
    """Write ``ablation.csv``, ``ablation.md`` and ``ablation.png`` into ``out_dir``."""
    csv_path, markdown, chart = SweepPaths(Path(out_dir)).outputs
    write_csv(csv_path, rows)
    summaries = summarize(rows, manifest)
    atomic_write_text(markdown, render_markdown(summaries, manifest))
    render_chart(summaries, chart)
    return [csv_path, markdown, chart]


def render_ablation(out_dir: Path, *, from_csv: bool = False) -> list[Path]:
    """Render a (finished or partial) sweep in ``out_dir`` again: its rows collected from the run
    folders, or with ``from_csv`` read from ``ablation.csv`` (a sweep kept without them)."""
    paths = SweepPaths(Path(out_dir))
    manifest = SweepManifest.read(paths.plan)
    rows = read_csv(paths.csv) if from_csv else collect_rows(paths.root, manifest)
    return write_outputs(paths.root, rows, manifest)
