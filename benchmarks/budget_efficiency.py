"""What a wall-clock budget buys: a plain smp + PyTorch loop as a new user writes it (reads its
PNG files every step, default memory format, validates and saves every epoch) against
`sparseg train`, same model, input size, batch, augmentation and loss, same minutes on
usgra_nerve, one after the other in one run of this script. Not a test.

The plain loop stands in for the loop sparseg's users start from; sparseg's side is the ordinary
command with the `budget` preset, then `tune` and `evaluate --subset test` on the same run (its
Dice at these minutes). Writes benchmarks/results/budget_efficiency_<M>min.{json,md}; the run
folder stays in benchmarks/runs/ (ignored by git).

    .venv/bin/python benchmarks/budget_efficiency.py --minutes 15 [--set training.batch_size=12]

``--set`` overrides (the planner's choice, say) apply to both sides.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from sparseg.augment import build_augmentation
from sparseg.config import load_config

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "usgra_nerve"
RESULTS = ROOT / "benchmarks" / "results"
PRESET = ROOT / "configs" / "budget.yaml"


class PngPairs(Dataset):
    """Reads and resizes one PNG pair per item, every time (what a first loop does)."""

    def __init__(self, ids: list[str], size: tuple[int, int]) -> None:
        self.ids, self.size = ids, size

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        name = f"{self.ids[index]}.png"
        image = np.asarray(Image.open(DATA / "images" / name).convert("L"), dtype=np.float32)
        mask = np.asarray(Image.open(DATA / "masks" / name).convert("L")) > 127
        image_t = torch.from_numpy(image / 255.0)[None, None]
        mask_t = torch.from_numpy(mask.astype(np.float32))[None, None]
        image_t = F.interpolate(image_t, self.size, mode="bilinear", antialias=True)[0]
        mask_t = F.interpolate(mask_t, self.size, mode="bilinear", antialias=True)[0] >= 0.5
        image_t = (image_t - image_t.mean()) / image_t.std().clamp_min(1e-8)
        return image_t, mask_t.float()


def plain_loop(config, split: dict, minutes: float, work: Path) -> dict:
    torch.manual_seed(0)
    size = tuple(config.data.input_size)
    batch = config.training.batch_size
    train = DataLoader(PngPairs(split["train"], size), batch, shuffle=True, drop_last=True)
    val = DataLoader(PngPairs(split["val"], size), batch)
    model = smp.Unet(
        config.model.encoder,
        encoder_weights=None,
        in_channels=1,
        classes=1,
        decoder_channels=config.model.decoder_channels or (256, 128, 64, 32, 16),
    )
    dice, bce = smp.losses.DiceLoss("binary"), torch.nn.BCEWithLogitsLoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.training.lr)
    augment = build_augmentation(config.augment)
    steps = images = 0
    step_seconds = 0.0
    start = time.monotonic()
    while time.monotonic() - start < minutes * 60:
        model.train()
        for x, y in train:
            with torch.no_grad():
                x, y = augment(x, y)
            step_start = time.perf_counter()  # as sparseg books it: augmentation apart
            logits = model(x)
            loss = 0.5 * dice(logits, y) + 0.5 * bce(logits, y)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step_seconds += time.perf_counter() - step_start
            steps, images = steps + 1, images + x.shape[0]
            if time.monotonic() - start >= minutes * 60:
                break
        model.eval()
        with torch.no_grad():
            for x, _ in val:
                model(x)
        torch.save(model.state_dict(), work / "model.pt")
    wall = time.monotonic() - start
    return {
        "steps": steps,
        "images_seen": images,
        "wall_seconds": round(wall, 1),
        "images_per_s": round(images / wall, 2),
        "step_share": round(step_seconds / wall, 3),
    }


def sparseg_run(minutes: float, run: Path, overrides: list[str]) -> dict:
    if run.exists():
        raise SystemExit(f"{run} exists: move it away to measure again")
    sparseg = [sys.executable, "-m", "sparseg"]
    command = [*sparseg, "train", "--config", str(PRESET), "--quiet"]
    command += ["--data", str(DATA), "--split", str(DATA / "split.json"), "--out", str(run)]
    for override in [f"training.max_minutes={minutes}", *overrides]:
        command += ["--set", override]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    summary = json.loads((run / "train_summary.json").read_text())
    quiet = {"check": True, "stdout": subprocess.DEVNULL}
    subprocess.run([*sparseg, "tune", "--run", str(run), "--data", str(DATA)], **quiet)
    scores = run / "test_metrics.json"
    evaluate = [*sparseg, "evaluate", "--run", str(run), "--data", str(DATA), "--json", str(scores)]
    subprocess.run(evaluate, **quiet)
    test = json.loads(scores.read_text())
    wall = summary["wall_seconds"]
    return {
        "steps": summary["steps"],
        "images_seen": summary["images_seen"],
        "wall_seconds": wall,
        "images_per_s": round(summary["images_seen"] / wall, 2),
        "step_share": summary["step_share"],
        "costs": {k: v for k, v in summary.items() if k.endswith("_seconds")},
        "test_dice_per_image": round(test["dice_per_image_empty_is_one"], 4),
        "test_dice_pooled": round(test["dice_pooled"], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    config = load_config(PRESET, args.overrides)
    split = json.loads((DATA / "split.json").read_text())
    with tempfile.TemporaryDirectory() as work:
        plain = plain_loop(config, split, args.minutes, Path(work))
    run = ROOT / "benchmarks" / "runs" / f"budget_efficiency_{args.minutes:g}min"
    rows = {"plain loop": plain, "sparseg train": sparseg_run(args.minutes, run, args.overrides)}
    ours = rows["sparseg train"]
    ratio = ours["steps"] / plain["steps"] if plain["steps"] else math.inf
    model = config.model
    setting = (
        f"{model.encoder} U-Net, decoder {model.decoder_channels or 'smp default'}, "
        f"{config.data.input_size[0]}x{config.data.input_size[1]}, batch "
        f"{config.training.batch_size}"
    )
    lines = [
        f"# Steps in {args.minutes:g} minutes on usgra_nerve: plain loop vs sparseg train",
        "",
        f"Same model ({setting}), augmentation, Dice+BCE loss, AdamW, clipping; one run of "
        "benchmarks/budget_efficiency.py, the two trainings one after the other.",
        "",
        "| system | steps | images seen | images/s | step share |",
        "|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        lines.append(
            f"| {name} | {row['steps']} | {row['images_seen']} | {row['images_per_s']:.1f} | "
            f"{row['step_share']:.2f} |"
        )
    lines += [
        "",
        f"sparseg steps ÷ plain-loop steps = **{ratio:.2f}** (goal ≥ 1.4); the sparseg run's "
        f"test Dice per image {ours['test_dice_per_image']:.3f}, pooled "
        f"{ours['test_dice_pooled']:.3f} (40 test ids of the data set's split, after `tune`).",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"budget_efficiency_{args.minutes:g}min"
    record = {"setting": setting, "overrides": args.overrides, **rows}
    (RESULTS / f"{stem}.json").write_text(json.dumps(record, indent=2) + "\n")
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
