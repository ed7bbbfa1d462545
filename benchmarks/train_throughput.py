"""One training step of sparseg vs a plain PyTorch + smp loop (same model, batch, augmentation,
loss, optimiser), and the augmentation's share of a step. Not a test: writes
benchmarks/results/train_throughput.json.

    .venv/bin/python benchmarks/train_throughput.py [--preset basic] [--steps 12] [--size 128]
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import segmentation_models_pytorch as smp
import torch
from torch.utils.data import DataLoader

from sparseg.augment import build_augmentation
from sparseg.config import load_config
from sparseg.data.dataset import SegDataset
from sparseg.data.discovery import discover_items
from sparseg.data.synthetic import synthesize
from sparseg.training import train

RESULTS = Path(__file__).parent / "results" / "train_throughput.json"


def sparseg_step_seconds(config, data: Path, work: Path) -> float:
    """Seconds per step in sparseg's second epoch (the first pays one-off allocations)."""
    run = work / "run"
    train(config, data, run, quiet=True)
    with open(run / "metrics.csv") as stream:
        rows = list(csv.DictReader(stream))
    steps_in_epoch = int(rows[1]["step"]) - int(rows[0]["step"])
    return float(rows[1]["seconds"]) / steps_in_epoch


def plain_step_seconds(config, data: Path, steps: int) -> tuple[float, float]:
    """Seconds per step of a hand-written loop, and seconds of augmentation per batch."""
    torch.manual_seed(0)
    items = discover_items(data)
    dataset = SegDataset(items, config.data.input_size)
    loader = DataLoader(
        dataset, batch_size=config.training.batch_size, shuffle=True, drop_last=True
    )
    model = smp.Unet(config.model.encoder, encoder_weights=None, in_channels=1, classes=1)
    dice = smp.losses.DiceLoss("binary")
    bce = torch.nn.BCEWithLogitsLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.training.lr)
    augment = build_augmentation(config.augment)
    model.train()
    step_times, augment_times = [], []
    batches = iter(loader)
    for step in range(2 * steps):
        start = time.perf_counter()
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(loader)
            batch = next(batches)
        augment_start = time.perf_counter()
        with torch.no_grad():
            images, masks = augment(batch["image"], batch["mask"])
        augment_seconds = time.perf_counter() - augment_start
        logits = model(images)
        loss = 0.5 * dice(logits, masks) + 0.5 * bce(logits, masks)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= steps:  # the first `steps` are warm-up, as sparseg's first epoch
            step_times.append(time.perf_counter() - start)
            augment_times.append(augment_seconds)
    return statistics.fmean(step_times), statistics.fmean(augment_times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="basic")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    preset = Path(__file__).parents[1] / "configs" / f"{args.preset}.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config = load_config(
            preset,
            [
                f"data.input_size=[{args.size}, {args.size}]",
                "training.max_epochs=2",
                f"training.steps_per_epoch={args.steps}",
                "training.patience=null",
                "training.precision=32-true",
                "data.val_fraction=0.05",
                "data.test_fraction=0.05",
            ],
        )
        n_images = round(1.2 * args.steps * config.training.batch_size)  # >= steps batches
        synthesize(work / "data", n=n_images, size=(args.size, args.size), fg=0.02, empty=0.2)
        sparseg_seconds = sparseg_step_seconds(config, work / "data", work)
        plain_seconds, augment_seconds = plain_step_seconds(config, work / "data", args.steps)
    result = {
        "preset": args.preset,
        "encoder": config.model.encoder,
        "input": [args.size, args.size],
        "batch_size": config.training.batch_size,
        "steps_timed": args.steps,
        "torch_threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "sparseg_seconds_per_step": round(sparseg_seconds, 4),
        "plain_seconds_per_step": round(plain_seconds, 4),
        "ratio_sparseg_over_plain": round(sparseg_seconds / plain_seconds, 3),
        "augment_seconds_per_batch": round(augment_seconds, 4),
        "augment_share_of_step": round(augment_seconds / plain_seconds, 3),
        "goals": {"ratio": "<= 1.05", "augment_share": "<= 0.10"},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
