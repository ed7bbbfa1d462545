"""DDP through Fabric on two CPU processes (gloo): the run completes, rank 0 alone writes files,
and validation Dice is reduced across ranks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import TINY_OVERRIDES

LEVERS = ["model.presence_head=true", "training.ema.enabled=true"]


@pytest.mark.slow
@pytest.mark.parametrize("levers", [[], LEVERS], ids=["plain", "presence-head-and-ema"])
def test_two_process_cpu_training(synthetic_data, tmp_path, levers) -> None:
    run = tmp_path / "run"
    overrides = [*TINY_OVERRIDES, "training.max_epochs=1", *levers]
    command = [sys.executable, "-m", "sparseg", "train", "--data", str(synthetic_data)]
    command += ["--out", str(run), "--devices", "2", "--quiet"]
    for override in overrides:
        command += ["--set", override]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["world_size"] == 2
    # 16 training images, batch 4 per process -> 2 steps per epoch on each of the two ranks
    assert summary["steps"] == 2 and summary["images_seen"] == 16
    names = sorted(p.name for p in run.iterdir())
    assert names == [
        "best.ckpt",
        "config.yaml",
        "last.ckpt",
        "metrics.csv",
        "split.json",
        "tb",
        "train_summary.json",
    ]
    assert summary["best_val_dice"] == pytest.approx(single_process_val_dice(run, synthetic_data))


def single_process_val_dice(run, data_root) -> float:
    """The validation Dice of best.ckpt recomputed over all validation images in one process."""
    import torch

    from sparseg.data.dataset import SegDataset
    from sparseg.data.discovery import discover_items
    from sparseg.inference.predictor import load_run_model
    from sparseg.models import mask_logits
    from sparseg.training.validation import per_image_dice

    member = load_run_model(run)
    val_ids = set(json.loads((run / "split.json").read_text())["val"])
    items = [p for p in discover_items(data_root) if p.id in val_ids]
    dataset = SegDataset(items, member.config.data.input_size)
    batch = torch.utils.data.default_collate([dataset[i] for i in range(len(dataset))])
    with torch.no_grad():
        probabilities = torch.sigmoid(mask_logits(member.model(batch["image"])))
        dice = per_image_dice(probabilities, batch["mask"], 0.5)
    return float(dice.mean())
