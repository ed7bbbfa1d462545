"""Which pretext task `sparseg pretrain` defaults to: a short pilot comparing the two objectives
(restoration of distorted images, Models Genesis style; masked patches, SimMIM style) by the
validation Dice of a network fine-tuned from each, beside one trained from scratch.

usgra_nerve with its split.json (pretraining reads the train and validation images, never the
test ones), resnet18 U-Net at 64², batch 8, configs/budget.yaml's optimiser; each pretraining
and each fine-tuning a fixed number of optimiser steps. Two seeds: a pilot that picks a default,
not the measurement (benchmarks/pretrain_budget.py is). Resumable: finished arms are kept.
Writes benchmarks/results/pretrain_pilot.{json,md}. Not a test.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/pretrain_pilot.py [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from sparseg.config import load_config
from sparseg.io_utils import atomic_write_json, atomic_write_text
from sparseg.training import train
from sparseg.training.pretrain import pretrain

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "usgra_nerve"
RESULTS = ROOT / "benchmarks" / "results"
WORK = ROOT / "benchmarks" / "runs" / "pretrain_pilot"
OBJECTIVES = ("restoration", "masked")
SETTINGS = [
    "data.input_size=[64, 64]",
    "model.encoder=resnet18",
    "training.batch_size=8",
    "training.max_minutes=null",
    "training.accelerator=cpu",
    "training.precision=32-true",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="steps per (pre)training")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    split = DATA / "split.json"
    out = RESULTS / "pretrain_pilot.json"
    results = json.loads(out.read_text()) if out.is_file() else {}
    results.setdefault("settings", {"steps": args.steps, "overrides": SETTINGS})
    for seed in args.seeds:
        arms = results.setdefault("seeds", {}).setdefault(str(seed), {})
        for arm in ("scratch", *OBJECTIVES):
            if arm not in arms:
                arms[arm] = run_arm(arm, seed, args.steps, split)
                atomic_write_json(out, results)
                print(seed, arm, arms[arm], flush=True)
    atomic_write_text(RESULTS / "pretrain_pilot.md", table(results))


def run_arm(arm: str, seed: int, steps: int, split: Path) -> dict[str, object]:
    """Pretrain (unless scratch), fine-tune, and the figures of both."""
    name = f"{arm}_seed{seed}"
    shutil.rmtree(WORK / f"{name}_finetune", ignore_errors=True)  # an arm cut off: again
    for leftover in WORK.glob(f"{name}.*"):
        leftover.unlink()
    started = time.monotonic()
    overrides = [*SETTINGS, f"training.max_steps={steps}", f"seed={seed}"]
    record: dict[str, object] = {}
    if arm != "scratch":
        weights = WORK / f"{name}.pth"
        objective = [*overrides, f"pretrain.objective={arm}"]
        config = load_config(ROOT / "configs/budget.yaml", objective)
        done = pretrain(config, weights, DATA, split_file=split, steps=steps, quiet=True)
        record["pretrain"] = {
            k: done[k] for k in ("images", "steps", "minutes", "first_loss", "final_loss")
        }
        overrides.append(f"model.pretrained_weights={weights}")
    config = load_config(ROOT / "configs/budget.yaml", overrides)
    summary = train(config, DATA, WORK / f"{name}_finetune", split_file=split, quiet=True)
    record["best_val_dice"] = summary["best_val_dice"]
    record["finetune_steps"] = summary["steps"]
    record["minutes"] = round((time.monotonic() - started) / 60, 2)
    return record


def table(results: dict) -> str:
    steps = results["settings"]["steps"]
    seeds = results["seeds"]
    lines = [
        "# Pretraining pilot: which pretext task",
        "",
        f"usgra_nerve, resnet18 U-Net at 64², batch 8, {steps} pretraining steps on the train "
        f"and validation images (not the test ones), then {steps} fine-tuning steps; seeds "
        f"{', '.join(seeds)}, a single core. Best validation Dice of the fine-tuned network; "
        "gain: the pretrained arm minus scratch of the same seed.",
        "",
        "| seed | arm | pretext loss, first → last epoch | best val Dice | gain | CPU-min |",
        "|---|---|---|---|---|---|",
    ]
    gains: dict[str, list[float]] = {}
    for seed, arms in seeds.items():
        scratch = arms.get("scratch", {}).get("best_val_dice")
        for arm, record in arms.items():
            loss = record.get("pretrain")
            shown = f"{loss['first_loss']:.3f} → {loss['final_loss']:.3f}" if loss else "—"
            dice = record["best_val_dice"]
            gain = "—"
            if scratch is not None and arm != "scratch":
                gains.setdefault(arm, []).append(dice - scratch)
                gain = f"{dice - scratch:+.3f}"
            lines.append(
                f"| {seed} | {arm} | {shown} | {dice:.3f} | {gain} | {record['minutes']:.1f} |"
            )
    lines.append("")
    for arm, values in gains.items():
        lines.append(
            f"- {arm}: mean gain {sum(values) / len(values):+.3f} over {len(values)} seed(s)"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
