"""How often does a training end blank, before and after the prior bias and the blank guard?

Runs configs/ladders/blank-guard.yaml (the budget ladder's blank-prone condition: resnet18 with
the half decoder, AdamW 2e-3, warm-up + cosine, 120 optimizer steps) on usgra_nerve and
ms_lesjak_flair, one stage with smp's zero-bias heads and no guard (the trainings as sparseg ran
them before) and one with both, over many seeds; then counts per stage the runs that ended blank
or nearly blank on the test images (sparseg.evaluation.blank_verdict), whose validation never
marked a target (train_summary.json's ``blank``), the guard's restarts, and compares test Dice,
paired by seed, over all runs and over the runs that were fine in both stages. Resumable: each
sweep continues from its committed run folders. A fixed step budget, so the machine's load
changes the wall time only. Not a test.

    .venv/bin/python benchmarks/blank_rate.py [--seeds 15] [--sets usgra_nerve,ms_lesjak_flair]

Writes benchmarks/results/ablation/blank_guard_120steps/<set>/ (the sweeps) and
benchmarks/results/blank_rate.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

from sparseg.ablation.layout import CSV_NAME
from sparseg.ablation.rows import read_csv
from sparseg.ablation.stats import paired_gain
from sparseg.io_utils import atomic_write_json, atomic_write_text, read_json
from sparseg.run_layout import HEADLINE_METRIC, TRAIN_SUMMARY

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SWEEPS = ROOT / "benchmarks" / "results" / "ablation" / "blank_guard_120steps"
RESULTS = ROOT / "benchmarks" / "results"
LADDER = ROOT / "configs" / "ladders" / "blank-guard.yaml"
STEPS = 120
# usgra_nerve ships no split; the budget ladder's, under which its seed 0 went blank, is reused.
SPLITS = {
    "usgra_nerve": RESULTS
    / "ablation/budget_cpu_5min/usgra_nerve/03-adamw-high-lr-warm-up-cosine/seed0/split.json",
    "ms_lesjak_flair": DATA / "ms_lesjak_flair" / "split.json",
}
WITH_TARGET = "dice_nonempty_truth"


def run_sweep(name: str, seeds: int) -> Path:
    out = SWEEPS / name
    command = [sys.executable, "-m", "sparseg", "ablate", "--data", str(DATA / name)]
    command += ["--ladder", str(LADDER), "--seeds", str(seeds), "--steps-per-run", str(STEPS)]
    command += ["--split", str(SPLITS[name]), "--out", str(out), "--quiet"]
    subprocess.run(command, check=False)
    return out


def stage_facts(sweep: Path) -> dict[str, dict[str, object]]:
    """Per stage: runs, blank counts, restarts and the scores by seed."""
    facts: dict[str, dict[str, object]] = {}
    for row in read_csv(sweep / CSV_NAME):
        if row.status != "done":
            continue
        counts = {"runs": 0, "blank_on_test": 0, "blank_in_training": 0, "restarted": 0}
        stage = facts.setdefault(
            row.slug, {"name": row.stage, **counts, "scores": {}, "with_target": {}}
        )
        summary = read_json(Path(row.run_dir) / TRAIN_SUMMARY)
        stage["runs"] += 1
        stage["blank_on_test"] += int(row.blank > 0)
        stage["blank_in_training"] += int(bool(summary.get("blank")))
        stage["restarted"] += int(row.restarts > 0)
        stage["scores"][row.seed] = row.score(HEADLINE_METRIC)
        stage["with_target"][row.seed] = row.score(WITH_TARGET)
    return facts


def compare(before: dict[int, float], after: dict[int, float], fine: set[int]) -> dict:
    seeds = sorted(set(before) & set(after))
    gain = paired_gain([before[s] for s in seeds], [after[s] for s in seeds])
    kept = [s for s in seeds if s in fine]
    gain_fine = paired_gain([before[s] for s in kept], [after[s] for s in kept])
    return {"pairs": len(seeds), "gain": gain, "pairs_fine": len(kept), "gain_fine": gain_fine}


def summarize(name: str, sweep: Path) -> dict[str, object]:
    facts = stage_facts(sweep)
    slugs = sorted(facts)
    result: dict[str, object] = {"set": name, "stages": facts}
    if len(slugs) == 2:
        before, after = (facts[slug] for slug in slugs)
        blank_before = {
            row.seed
            for row in read_csv(sweep / CSV_NAME)
            if row.slug == slugs[0] and row.status == "done" and row.blank > 0
        }
        fine = set(before["scores"]) - blank_before
        result["per_image"] = compare(before["scores"], after["scores"], fine)
        result["with_target"] = compare(before["with_target"], after["with_target"], fine)
    return result


def interval(gain: tuple[float, float, float] | None) -> str:
    if gain is None:
        return "n/a"
    mean, low, high = gain
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"


def render(summaries: list[dict[str, object]]) -> str:
    lines = [
        "# Blank networks before and after the prior bias and the blank guard",
        "",
        f"`benchmarks/blank_rate.py`: `configs/ladders/blank-guard.yaml`, {STEPS} optimizer steps "
        "per training (the budget ladder's blank-prone condition), test split, one machine. "
        "Blank on test: no pixel marked on any test image with a target, or under 10 % of the "
        "target pixels (nearly blank). Gains: paired by seed, 95 % Student-t intervals; "
        "'fine' pairs leave out the seeds whose zero-bias run was blank on test.",
        "",
        "| set | stage | runs | blank on test | never marked a target in validation | "
        "restarted | per-image Dice | Dice on images with a target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for summary in summaries:
        for stage in summary["stages"].values():
            scores = [v for v in stage["scores"].values() if not math.isnan(v)]
            targets = [v for v in stage["with_target"].values() if not math.isnan(v)]
            lines.append(
                f"| {summary['set']} | {stage['name']} | {stage['runs']} | "
                f"{stage['blank_on_test']} | {stage['blank_in_training']} | {stage['restarted']} | "
                f"{_mean(scores)} | {_mean(targets)} |"
            )
    lines += ["", "| set | Dice | gain, all pairs | gain, fine pairs |", "|---|---|---|---|"]
    for summary in summaries:
        for key, label in (("per_image", "per image"), ("with_target", "images with a target")):
            if key in summary:
                found = summary[key]
                lines.append(
                    f"| {summary['set']} | {label} | {interval(found['gain'])} ({found['pairs']}) "
                    f"| {interval(found['gain_fine'])} ({found['pairs_fine']}) |"
                )
    return "\n".join(lines) + "\n"


def _mean(values: list[float]) -> str:
    return f"{sum(values) / len(values):.3f}" if values else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=15)
    parser.add_argument("--sets", default="usgra_nerve,ms_lesjak_flair")
    parser.add_argument("--summarize-only", action="store_true")
    args = parser.parse_args()
    summaries = []
    for name in args.sets.split(","):
        sweep = SWEEPS / name if args.summarize_only else run_sweep(name, args.seeds)
        if (sweep / CSV_NAME).is_file():
            summaries.append(summarize(name, sweep))
    atomic_write_json(RESULTS / "blank_rate.json", json.loads(json.dumps(summaries, default=str)))
    atomic_write_text(RESULTS / "blank_rate.md", render(summaries))
    print(render(summaries))


if __name__ == "__main__":
    main()
