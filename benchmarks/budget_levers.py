"""Which budget levers earned their place in configs/budget.yaml: the cumulative ladder
(configs/ladders/budget.yaml, "+ lever") and the leave-one-out ladder
(configs/ladders/budget-leave-one-out.yaml, "− lever") read together, per data set and pooled
over data sets. Reads the sweeps' ablation.csv files only (no training). Not a test.

A lever's gain is paired by (data set, seed): added, the stage minus the stage before it;
left out, "all levers" minus the stage without it. Pooled intervals treat every (data set, seed)
pair as one paired measurement (Student t over all pairs), so a lever has to help on both data
sets, not only on average.

Two scores: the headline per-image Dice (an empty image predicted empty counts 1) and the Dice
over images that have a target. The rule budget.yaml is rebuilt by: a lever is on when one of its
two pooled headline intervals lies above zero and, in that ladder, its pooled interval on images
with a target is not below zero (a network that predicts nothing scores the empty share on the
headline: on ms_lesjak_flair's test subject, 0.51); a lever whose intervals straddle zero stays
off. Writes benchmarks/results/budget_levers.{json,md}.

    .venv/bin/python benchmarks/budget_levers.py [--results benchmarks/results/ablation]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from sparseg.ablation.layout import CSV_NAME, PLAN_NAME
from sparseg.ablation.rows import read_csv
from sparseg.ablation.stats import paired_gain
from sparseg.io_utils import read_json
from sparseg.run_layout import HEADLINE_METRIC

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ("usgra_nerve", "ms_lesjak_flair")
LADDERS = {"added": "budget_cpu_5min", "left out": "budget_loo_cpu_5min"}
TOGETHER = "all levers together (vs basic)"
WITH_TARGET = "dice_nonempty_truth"
METRICS = (HEADLINE_METRIC, WITH_TARGET)
Pairs = tuple[list[float], list[float]]  # (without the lever, with it), one entry per seed
Levers = dict[str, dict[str, dict[str, dict[str, float | int]]]]  # see collect()


def scores(csv_path: Path, metric: str) -> dict[str, dict[int, float]]:
    """Stage slug → seed → ``metric`` of each finished run."""
    table: dict[str, dict[int, float]] = {}
    for row in read_csv(csv_path):
        if row.status == "done" and not math.isnan(row.score(metric)):
            table.setdefault(row.slug, {})[row.seed] = row.score(metric)
    return table


def lever_pairs(sweep: Path, metric: str) -> dict[str, Pairs]:
    """Lever → (without, with) per seed, each stage paired with the stage the sweep's plan
    compares it to: the stage before it (cumulative; plus the last stage against the first, the
    levers together) or "all levers" (leave one out, where the stage is the one without)."""
    plan, table = read_json(sweep / PLAN_NAME), scores(sweep / CSV_NAME, metric)
    leave_one_out = plan["mode"] == "leave_one_out"
    stages = [stage for stage in plan["stages"] if not stage.get("skipped")]
    comparisons = [
        (stage["name"].removeprefix("− " if leave_one_out else "+ "), stage, stage["compare_to"])
        for stage in stages
        if stage.get("compare_to")
    ]
    if not leave_one_out and len(stages) > 1:
        comparisons.append((TOGETHER, stages[-1], stages[0]["slug"]))
    pairs = {}
    for lever, stage, reference in comparisons:
        runs, base = table.get(stage["slug"], {}), table.get(reference, {})
        seeds = sorted(set(runs) & set(base))
        this, that = [runs[s] for s in seeds], [base[s] for s in seeds]
        pairs[lever] = (this, that) if leave_one_out else (that, this)
    return pairs


def gain_entry(pairs: Pairs) -> dict[str, float | int]:
    mean, low, high = paired_gain(*pairs)
    return {"gain": mean, "low": low, "high": high, "pairs": len(pairs[0])}


def collect(results: Path, metric: str) -> Levers:
    """Lever → ladder ("added" / "left out") → data set or "pooled" → gain entry on ``metric``."""
    levers: Levers = {}
    for ladder, folder in LADDERS.items():
        pooled: dict[str, Pairs] = {}
        for dataset in DATASETS:
            sweep = results / folder / dataset
            if not (sweep / CSV_NAME).is_file():
                continue
            for lever, (without, with_) in lever_pairs(sweep, metric).items():
                if not without:
                    continue
                levers.setdefault(lever, {}).setdefault(ladder, {})[dataset] = gain_entry(
                    (without, with_)
                )
                both = pooled.setdefault(lever, ([], []))
                both[0].extend(without)
                both[1].extend(with_)
        for lever, pairs in pooled.items():
            levers[lever][ladder]["pooled"] = gain_entry(pairs)
    return levers


def verdict(lever: str, by_metric: dict[str, Levers]) -> str:
    if lever == TOGETHER:
        return "the levers as a set, not a key"
    headline, with_target = by_metric[HEADLINE_METRIC][lever], by_metric[WITH_TARGET].get(lever, {})
    pooled = {ladder: by_set["pooled"] for ladder, by_set in headline.items() if "pooled" in by_set}
    if not any(entry["pairs"] >= 2 for entry in pooled.values()):
        return "pending: fewer than 2 pairs"
    above = [ladder for ladder, entry in pooled.items() if entry["pairs"] >= 2 and entry["low"] > 0]
    kept = [
        ladder
        for ladder in above
        if not with_target.get(ladder, {}).get("pooled", {}).get("high", 0.0) < 0
    ]
    if kept:
        return f"on: {' and '.join(kept)}, interval above zero"
    if above:
        return f"off: {' and '.join(above)} above zero, but by losing Dice on images with a target"
    return "off: every interval reaches zero or below"


def cell(entry: dict[str, float | int] | None) -> str:
    if not entry:
        return "—"
    gain, low, high, n = entry["gain"], entry["low"], entry["high"], entry["pairs"]
    interval = "" if math.isnan(low) else f" [{low:+.3f}, {high:+.3f}]"
    return f"{gain:+.3f}{interval} (n={n})"


def render(by_metric: dict[str, Levers], verdicts: dict[str, str]) -> str:
    columns = [(ladder, dataset) for ladder in LADDERS for dataset in (*DATASETS, "pooled")]
    lines = [
        "# Budget levers: gain when added (cumulative ladder) and when left out (leave-one-out)",
        "",
        '5 CPU-minutes per training, paired by seed; "left out" is all levers minus the stage '
        "without the lever (positive: the lever helped). Pooled: every (data set, seed) pair. "
        "Written by benchmarks/budget_levers.py from the sweeps' ablation.csv; its docstring "
        "states the rule of the verdict column.",
    ]
    header = " | ".join(f"{ladder}: {dataset}" for ladder, dataset in columns)
    for metric, levers in by_metric.items():
        lines += ["", f"## `{metric}`", "", f"| lever | {header} | verdict |"]
        lines.append("|---|" + "---|" * len(columns) + "---|")
        for lever, entry in levers.items():
            cells = [cell(entry.get(ladder, {}).get(dataset)) for ladder, dataset in columns]
            lines.append(f"| {lever} | " + " | ".join(cells) + f" | {verdicts.get(lever, '—')} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks/results/ablation")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/budget_levers")
    args = parser.parse_args()
    by_metric = {metric: collect(args.results, metric) for metric in METRICS}
    verdicts = {lever: verdict(lever, by_metric) for lever in by_metric[HEADLINE_METRIC]}
    payload = {"levers": by_metric, "verdicts": verdicts}
    args.out.with_suffix(".json").write_text(json.dumps(payload, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(render(by_metric, verdicts))
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
