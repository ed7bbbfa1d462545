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
from itertools import pairwise
from pathlib import Path

from sparseg.ablation.outputs import read_csv
from sparseg.ablation.stats import paired_gain
from sparseg.run_layout import HEADLINE_METRIC

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ("usgra_nerve", "ms_lesjak_flair")
LADDERS = {"added": "budget_cpu_5min", "left out": "budget_loo_cpu_5min"}
ALL_LEVERS = "all levers"
TOGETHER = "all levers together (vs basic)"
WITH_TARGET = "dice_nonempty_truth"
METRICS = (HEADLINE_METRIC, WITH_TARGET)
Pairs = tuple[list[float], list[float]]  # (without the lever, with it), one entry per seed
Levers = dict[str, dict[str, dict[str, dict[str, float | int]]]]  # see collect()


def scores(csv_path: Path, metric: str) -> dict[str, dict[int, float]]:
    """Stage name → seed → ``metric`` of each finished run."""
    table: dict[str, dict[int, float]] = {}
    for row in read_csv(csv_path):
        if row["status"] == "done" and not math.isnan(row[metric]):
            table.setdefault(row["stage"], {})[row["seed"]] = row[metric]
    return table


def added_pairs(table: dict[str, dict[int, float]]) -> dict[str, Pairs]:
    """Cumulative ladder: every "+ lever" stage against the stage before it, and the last stage
    (every lever) against the first (none)."""
    names = list(table)
    steps = [(after.removeprefix("+ "), before, after) for before, after in pairwise(names)]
    if len(names) > 1:
        steps.append((TOGETHER, names[0], names[-1]))
    pairs = {}
    for lever, before, after in steps:
        seeds = sorted(set(table[before]) & set(table[after]))
        pairs[lever] = ([table[before][s] for s in seeds], [table[after][s] for s in seeds])
    return pairs


def left_out_pairs(table: dict[str, dict[int, float]]) -> dict[str, Pairs]:
    """Leave-one-out ladder: "all levers" against each stage without one lever."""
    full = table.get(ALL_LEVERS, {})
    pairs = {}
    for name, runs in table.items():
        if name == ALL_LEVERS:
            continue
        seeds = sorted(set(full) & set(runs))
        pairs[name.removeprefix("− ")] = ([runs[s] for s in seeds], [full[s] for s in seeds])
    return pairs


def gain_entry(pairs: Pairs) -> dict[str, float | int]:
    mean, low, high = paired_gain(*pairs)
    return {"gain": mean, "low": low, "high": high, "pairs": len(pairs[0])}


def collect(results: Path, metric: str) -> Levers:
    """Lever → ladder ("added" / "left out") → data set or "pooled" → gain entry on ``metric``."""
    levers: Levers = {}
    for ladder, folder in LADDERS.items():
        reader = added_pairs if ladder == "added" else left_out_pairs
        pooled: dict[str, Pairs] = {}
        for dataset in DATASETS:
            path = results / folder / dataset / "ablation.csv"
            if not path.is_file():
                continue
            for lever, (without, with_) in reader(scores(path, metric)).items():
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


def render(by_metric: dict[str, Levers]) -> str:
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
            lines.append(f"| {lever} | " + " | ".join(cells) + f" | {verdict(lever, by_metric)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks/results/ablation")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/budget_levers")
    args = parser.parse_args()
    by_metric = {metric: collect(args.results, metric) for metric in METRICS}
    payload = {
        "levers": by_metric,
        "verdicts": {lever: verdict(lever, by_metric) for lever in by_metric[HEADLINE_METRIC]},
    }
    args.out.with_suffix(".json").write_text(json.dumps(payload, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(render(by_metric))
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
