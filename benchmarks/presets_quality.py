"""The presets side by side on real data: basic, budget, nnunet2d and the proposal that
`sparseg inspect --write-config` makes for each data set, at 15 CPU-minutes and at a fixed
2,000 optimizer steps per training, 3 seeds, on usgra_nerve, ms_lesjak_flair and synthetic
frames with 40 % empty (`sparseg synth --empty 0.4 --fg 0.005`). Not a test.

Each data set gets a ladder written beside its sweeps (its proposal differs per data set),
run by `sparseg ablate` into benchmarks/results/ablation/presets_<budget>/<set>/: resumable from
its committed run folders, so the sweep can span sessions and machines. The proposal is planned
once per data set for the 15-minute budget (`inspect --minutes 15`: timed on this machine) and
reused at 2,000 steps. budget and the proposal are tuned after training (their inference is part
of the recipe), basic and nnunet2d are evaluated as configured; nnunet2d trains on patches of the
median image's size (multiples of 32, at most 256 a side: a CPU's step).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/presets_quality.py [--budget 15min|2000steps] \
        [--sets a,b,c] [--jobs 2]

Two runs at a time, one core each, so that runs trained side by side meet the same pace of a
shared machine; the 15-minute budget needs the machine otherwise quiet. After the sweeps (and
with --summary-only, from whatever has finished) it writes
benchmarks/results/ablation/presets_<budget>/summary.{md,json}: each preset's mean test Dice,
the steps its budget bought, the proposal's paired gain over every other preset and the issue's
goals (usgra_nerve ≥ 0.70 per image at 15 minutes; ms_lesjak_flair ≥ 0.35 on slices with
lesions and ≥ 0.66 per image; the proposal at or above the best preset: an interval reaching
zero counts as "at"). Cost on a 2-core CPU:
4 stages x 3 seeds x 15 minutes = 3 core-hours (1.5 hours of the machine) per data set at 15
minutes; 2,000 steps cost 0.5-2 s each by preset and input size.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from sparseg.ablation.layout import CSV_NAME
from sparseg.ablation.rows import SweepRow, read_csv
from sparseg.ablation.stats import paired_gain
from sparseg.data.fingerprint import fingerprint
from sparseg.io_utils import atomic_write_json, atomic_write_text
from sparseg.run_layout import HEADLINE_METRIC

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results" / "ablation"
PRESETS = ROOT / "src" / "sparseg" / "config" / "presets"
SYNTHETIC = Path.home() / ".cache" / "sparseg-benchmarks" / "synth_empty40"
BUDGETS = {"15min": ["--minutes-per-run", "15"], "2000steps": ["--steps-per-run", "2000"]}
BUDGET_WORDS = {"15min": "15 minutes", "2000steps": "2,000 steps"}
SETS = ("usgra_nerve", "ms_lesjak_flair", "synth_empty40")
SPLITS = {"ms_lesjak_flair": DATA / "ms_lesjak_flair" / "split.json"}
WITH_TARGET = "dice_nonempty_truth"
PROPOSAL = "proposal"
# The goals: (data set, budget) → the least mean test Dice, per convention.
GOALS = {
    ("usgra_nerve", "15min"): {HEADLINE_METRIC: 0.70},
    ("ms_lesjak_flair", "15min"): {WITH_TARGET: 0.35, HEADLINE_METRIC: 0.66},
    ("ms_lesjak_flair", "2000steps"): {WITH_TARGET: 0.35, HEADLINE_METRIC: 0.66},
}


def sparseg(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "sparseg", *args], check=True)


def data_root(name: str) -> Path:
    """The data set's folder; the synthetic frames are made once, outside the repository."""
    if name != "synth_empty40":
        return DATA / name
    if not (SYNTHETIC / "images").is_dir():
        shape = ["--n", "300", "--size", "256x256", "--fg", "0.005", "--empty", "0.4"]
        sparseg("synth", str(SYNTHETIC), *shape, "--seed", "0")
    return SYNTHETIC


def native_patch(data: Path) -> list[int]:
    """nnunet2d's patch: the median image, floored to multiples of 32, at most 256 a side."""
    sizes = fingerprint(data).image_size
    sides = (sizes.height.median, sizes.width.median)
    return [max(64, min(256, int(side // 32) * 32)) for side in sides]


def relative(path: Path, folder: Path) -> str:
    """``path`` as the ladder names it: relative to the ladder's folder, so a clone elsewhere
    reads the same ladder."""
    return os.path.relpath(path, folder)


def ladder_for(name: str, data: Path) -> Path:
    """This data set's ladder (and its proposal), written once beside its sweeps."""
    folder = RESULTS / "presets_ladders" / name
    ladder = folder / "ladder.yaml"
    if ladder.is_file():
        return ladder
    folder.mkdir(parents=True, exist_ok=True)
    proposal = folder / "proposed.yaml"
    sparseg("inspect", str(data), "--minutes", "15", "--write-config", str(proposal))
    stages = [
        {"name": "basic", "note": "configs/basic.yaml as configured."},
        {"name": "budget", "base": relative(PRESETS / "budget.yaml", folder), "tune": True},
        {
            "name": "nnunet2d",
            "base": relative(PRESETS / "nnunet2d.yaml", folder),
            "note": "patches of the native images, at most 256 px a side (a CPU's step)",
            "overrides": {"data.input_size": native_patch(data)},
        },
        {"name": "proposal", "base": proposal.name, "tune": True},
    ]
    spec = {
        "description": f"basic, budget, nnunet2d and the proposal for {name}",
        "base": relative(PRESETS / "basic.yaml", folder),
        "mode": "cumulative",
        "stages": stages,
    }
    ladder.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return ladder


def preset_rows(sweep: Path) -> dict[str, dict[int, SweepRow]]:
    """The finished runs of one sweep: stage name → seed → row."""
    table: dict[str, dict[int, SweepRow]] = {}
    for row in read_csv(sweep / CSV_NAME):
        if row.status == "done":
            table.setdefault(row.stage, {})[row.seed] = row
    return table


def summarise(name: str, budget: str, table: dict[str, dict[int, SweepRow]]) -> dict[str, Any]:
    """One data set's presets: means, steps bought, the proposal's paired gains, the goals."""
    presets = []
    for stage, runs in table.items():
        steps = [runs[seed].steps for seed in sorted(runs)]
        presets.append(
            {
                "preset": stage,
                "seeds": sorted(runs),
                "steps": [int(value) for value in steps if not math.isnan(value)],
                **{
                    metric: sum(run.score(metric) for run in runs.values()) / len(runs)
                    for metric in (HEADLINE_METRIC, WITH_TARGET)
                },
            }
        )
    proposal = table.get(PROPOSAL, {})
    gains = []
    for stage, runs in table.items():
        seeds = sorted(set(runs) & set(proposal))
        if stage == PROPOSAL or len(seeds) < 2:
            continue
        for metric in (HEADLINE_METRIC, WITH_TARGET):
            before = [runs[seed].score(metric) for seed in seeds]
            after = [proposal[seed].score(metric) for seed in seeds]
            gain, low, high = paired_gain(before, after)
            gains.append(
                {"over": stage, "metric": metric, "seeds": len(seeds), "gain": gain}
                | {"low": low, "high": high}
            )
    return {"data_set": name, "presets": presets, "proposal_gains": gains}


def goal_lines(budget: str, summaries: list[dict[str, Any]]) -> list[str]:
    """Each goal of the issue with what was measured: met, or the distance."""
    lines = []
    for summary in summaries:
        name = summary["data_set"]
        by_preset = {entry["preset"]: entry for entry in summary["presets"]}
        best = {
            metric: max(by_preset.values(), key=lambda entry, m=metric: entry[m])
            for metric in (HEADLINE_METRIC, WITH_TARGET)
        }
        for metric, least in GOALS.get((name, budget), {}).items():
            top = best[metric]
            verdict = "met" if top[metric] >= least else f"not met, {least - top[metric]:.3f} short"
            lines.append(
                f"- {name}, {metric} ≥ {least:.2f}: best {top[metric]:.3f} ({top['preset']}): "
                f"{verdict}"
            )
        others = [entry for entry in by_preset.values() if entry["preset"] != PROPOSAL]
        if PROPOSAL not in by_preset or not others:
            continue
        for gain in summary["proposal_gains"]:
            strongest = max(others, key=lambda entry, m=gain["metric"]: entry[m])
            if gain["over"] != strongest["preset"]:
                continue
            if gain["low"] > 0:
                verdict = "above"
            elif gain["high"] >= 0 or (math.isnan(gain["high"]) and gain["gain"] >= 0):
                verdict = "at (the interval reaches zero)"
            else:
                verdict = "below"
            lines.append(
                f"- {name}, {gain['metric']}: the proposal against the best other preset "
                f"({gain['over']}): {gain['gain']:+.3f} [{gain['low']:+.3f}, {gain['high']:+.3f}]"
                f" over {gain['seeds']} seeds: {verdict}"
            )
    return lines


def write_summary(budget: str, sets: tuple[str, ...]) -> None:
    """``presets_<budget>/summary.{json,md}`` from every sweep of this budget finished so far."""
    folder = RESULTS / f"presets_{budget}"
    summaries = [
        summarise(name, budget, preset_rows(folder / name))
        for name in sets
        if (folder / name / CSV_NAME).is_file()
    ]
    if not summaries:
        return
    atomic_write_json(folder / "summary.json", {"budget": budget, "data_sets": summaries})
    lines = [
        f"# The presets side by side, {BUDGET_WORDS[budget]} per training",
        "",
        "`benchmarks/presets_quality.py`: each preset's mean test Dice over its seeds (per image,",
        "empty = 1; and on the images with a target), the steps its budget bought, and the",
        "proposal's paired gain (95 % Student-t interval) over every other preset.",
        "",
        "| data set | preset | seeds | per image | images with a target | steps |",
        "|---|---|---|---|---|---|",
    ]
    for summary in summaries:
        for entry in summary["presets"]:
            steps = entry["steps"]
            bought = f"{min(steps)}–{max(steps)}" if steps else "?"
            lines.append(
                f"| {summary['data_set']} | {entry['preset']} | {len(entry['seeds'])} | "
                f"{entry[HEADLINE_METRIC]:.3f} | {entry[WITH_TARGET]:.3f} | {bought} |"
            )
    lines += [
        "",
        "| data set | proposal over | Dice | seeds | gain [95 %] |",
        "|---|---|---|---|---|",
    ]
    for summary in summaries:
        for gain in summary["proposal_gains"]:
            lines.append(
                f"| {summary['data_set']} | {gain['over']} | {gain['metric']} | {gain['seeds']} | "
                f"{gain['gain']:+.3f} [{gain['low']:+.3f}, {gain['high']:+.3f}] |"
            )
    lines += ["", "Goals:", "", *goal_lines(budget, summaries), ""]
    atomic_write_text(folder / "summary.md", "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", choices=list(BUDGETS), default="15min")
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="runs at once")
    parser.add_argument("--summary-only", action="store_true", help="write the summary alone")
    args = parser.parse_args()
    if args.summary_only:
        write_summary(args.budget, SETS)
        return
    for name in args.sets.split(","):
        data = data_root(name)
        out = RESULTS / f"presets_{args.budget}" / name
        command = ["ablate", "--data", str(data), "--ladder", str(ladder_for(name, data))]
        command += ["--seeds", str(args.seeds), "--jobs", str(args.jobs), "--out", str(out)]
        command += BUDGETS[args.budget]
        if name in SPLITS:
            command += ["--split", str(SPLITS[name])]
        sparseg(*command)
        write_summary(args.budget, SETS)


if __name__ == "__main__":
    main()
