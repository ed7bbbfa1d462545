"""Which budget levers earned their place in configs/budget.yaml: the cumulative ladder
(configs/ladders/budget.yaml, "+ lever") and the leave-one-out ladder
(configs/ladders/budget-leave-one-out.yaml, "− lever") read together, per data set and pooled
over data sets. Reads the sweeps' ablation.csv files only (no training). Not a test.

A lever's gain is paired by (data set, seed): added, the stage minus the stage before it;
left out, "all levers" minus the stage without it. Pooled intervals treat every (data set, seed)
pair as one paired measurement (Student t over all pairs), so a lever has to help on both data
sets, not only on average.

The rule budget.yaml is rebuilt by: a lever is on when one of its two pooled intervals lies above
zero; a lever whose intervals straddle zero stays off. Writes
benchmarks/results/budget_levers.{json,md}.

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
Pairs = tuple[list[float], list[float]]  # (without the lever, with it), one entry per seed


def scores(csv_path: Path) -> dict[str, dict[int, float]]:
    """Stage name → seed → headline score of each finished run."""
    table: dict[str, dict[int, float]] = {}
    for row in read_csv(csv_path):
        if row["status"] == "done" and not math.isnan(row[HEADLINE_METRIC]):
            table.setdefault(row["stage"], {})[row["seed"]] = row[HEADLINE_METRIC]
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


def collect(results: Path) -> dict[str, dict[str, dict[str, dict[str, float | int]]]]:
    """Lever → ladder ("added" / "left out") → data set or "pooled" → gain entry."""
    levers: dict[str, dict[str, dict[str, dict[str, float | int]]]] = {}
    for ladder, folder in LADDERS.items():
        reader = added_pairs if ladder == "added" else left_out_pairs
        pooled: dict[str, Pairs] = {}
        for dataset in DATASETS:
            path = results / folder / dataset / "ablation.csv"
            if not path.is_file():
                continue
            for lever, (without, with_) in reader(scores(path)).items():
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


def verdict(lever: str, entry: dict[str, dict[str, dict[str, float | int]]]) -> str:
    if lever == TOGETHER:
        return "the levers as a set, not a key"
    above = [
        ladder
        for ladder, by_set in entry.items()
        if "pooled" in by_set and by_set["pooled"]["pairs"] >= 2 and by_set["pooled"]["low"] > 0
    ]
    if above:
        return f"on: {' and '.join(above)}, interval above zero"
    if not any(by_set.get("pooled", {}).get("pairs", 0) >= 2 for by_set in entry.values()):
        return "pending: fewer than 2 pairs"
    return "off: every interval reaches zero or below"


def cell(entry: dict[str, float | int] | None) -> str:
    if not entry:
        return "—"
    gain, low, high, n = entry["gain"], entry["low"], entry["high"], entry["pairs"]
    interval = "" if math.isnan(low) else f" [{low:+.3f}, {high:+.3f}]"
    return f"{gain:+.3f}{interval} (n={n})"


def render(levers: dict[str, dict[str, dict[str, dict[str, float | int]]]]) -> str:
    columns = [(ladder, dataset) for ladder in LADDERS for dataset in (*DATASETS, "pooled")]
    lines = [
        "# Budget levers: gain when added (cumulative ladder) and when left out (leave-one-out)",
        "",
        f"Headline `{HEADLINE_METRIC}`, 5 CPU-minutes per training, paired by seed; "
        '"left out" is all levers minus the stage without the lever (positive: the lever '
        "helped). Pooled: every (data set, seed) pair. Written by benchmarks/budget_levers.py "
        "from the sweeps' ablation.csv.",
        "",
        "| lever | "
        + " | ".join(f"{ladder}: {dataset}" for ladder, dataset in columns)
        + " | verdict |",
        "|---|" + "---|" * len(columns) + "---|",
    ]
    for lever, entry in levers.items():
        cells = [cell(entry.get(ladder, {}).get(dataset)) for ladder, dataset in columns]
        lines.append(f"| {lever} | " + " | ".join(cells) + f" | {verdict(lever, entry)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks/results/ablation")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/budget_levers")
    args = parser.parse_args()
    levers = collect(args.results)
    payload = {
        lever: {**entry, "verdict": verdict(lever, entry)} for lever, entry in levers.items()
    }
    args.out.with_suffix(".json").write_text(json.dumps(payload, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(render(levers))
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
