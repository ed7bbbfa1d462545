"""Step time of `sparseg train` per setting (memory format, cache, decoder width, input size,
batch, encoder), all in one run of this script on one machine. Not a test.

Each variant is an ordinary `sparseg train` subprocess on usgra_nerve with the `budget` preset
plus its overrides, for a fixed number of optimiser steps; the figures are the run's own cost
accounting (train_summary.json), so set-up is not counted in the step time. Writes
benchmarks/results/train_settings.{json,md}.

    .venv/bin/python benchmarks/train_settings.py [--steps 40]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "usgra_nerve"
RESULTS = ROOT / "benchmarks" / "results"
BEFORE = ["training.memory_format=contiguous", "data.cache=none"]  # sparseg before the cache
HALF_DECODER = "model.decoder_channels=[128, 64, 32, 16, 8]"
VARIANTS = {
    "before: contiguous, no cache": BEFORE,
    "cache": ["training.memory_format=contiguous"],
    "cache + channels_last": [],
    "cache + channels_last + half decoder": [HALF_DECODER],
    "... + batch 8": [HALF_DECODER, "training.batch_size=8"],
    "... + 96x96": [HALF_DECODER, "data.input_size=[96, 96]"],
    "cache + channels_last, resnet34": ["model.encoder=resnet34"],
    "cache + channels_last, mobilenet_v2": ["model.encoder=mobilenet_v2"],
}


def run_variant(overrides: list[str], steps: int, work: Path) -> dict:
    run = work / "run"
    command = [sys.executable, "-m", "sparseg", "train", "--config", "configs/budget.yaml"]
    command += ["--data", str(DATA), "--split", str(DATA / "split.json"), "--out", str(run)]
    settings = [f"training.max_steps={steps}", "training.max_minutes=null", *overrides]
    for override in settings:
        command += ["--set", override]
    subprocess.run([*command, "--quiet"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    summary = json.loads((run / "train_summary.json").read_text())
    return {
        "overrides": overrides,
        "steps": summary["steps"],
        "images_seen": summary["images_seen"],
        "step_ms": round(1000 * summary["step_seconds"] / summary["steps"], 1),
        "images_per_s": round(summary["images_seen"] / summary["wall_seconds"], 2),
        **{k: v for k, v in summary.items() if k.endswith("_seconds") or k == "step_share"},
        "cache": summary["cache"],
    }


def markdown(rows: dict[str, dict], steps: int) -> str:
    base = rows[next(iter(rows))]
    lines = [
        f"# `sparseg train` step time per setting (usgra_nerve, budget preset, {steps} steps, "
        "one run of benchmarks/train_settings.py)",
        "",
        "| setting | step ms | speed-up per step | images/s (wall) | images/s ÷ before | "
        "data s | step share |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        lines.append(
            f"| {name} | {row['step_ms']:.0f} | {base['step_ms'] / row['step_ms']:.2f} | "
            f"{row['images_per_s']:.1f} | {row['images_per_s'] / base['images_per_s']:.2f} | "
            f"{row['data_seconds']:.1f} | {row['step_share']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--only", nargs="*", help="variant names to run (default: all)")
    args = parser.parse_args()
    rows = {}
    for name, overrides in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        with tempfile.TemporaryDirectory() as work:
            rows[name] = run_variant(overrides, args.steps, Path(work))
        print(name, json.dumps(rows[name]), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "train_settings.json").write_text(json.dumps(rows, indent=2) + "\n")
    (RESULTS / "train_settings.md").write_text(markdown(rows, args.steps))
    print(markdown(rows, args.steps))


if __name__ == "__main__":
    main()
