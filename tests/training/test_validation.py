"""training/validation.py: per-image Dice, validation over a data set at the best of several
thresholds, and patch-mode validation on native-size images (checked against an independent
recomputation)."""

from __future__ import annotations

import json

import pytest
import torch
from lightning_fabric import Fabric
from torch.utils.data import Dataset

from sparseg.config import InferenceConfig
from sparseg.data.discovery import discover_items
from sparseg.data.io import read_mask
from sparseg.evaluation.score import score_arrays
from sparseg.inference.predictor import Predictor
from sparseg.run_layout import HEADLINE_METRIC, RunPaths
from sparseg.training import train
from sparseg.training.validation import ValidationScore, per_image_dice, validate
from tests.helpers import tiny_config
from tests.training.test_loop import read_csv


def test_per_image_dice_counts_an_empty_pair_as_one_and_a_false_alarm_as_zero() -> None:
    truth = torch.zeros(3, 1, 2, 2)
    truth[0, 0, 0] = 1.0  # image 0: two target pixels
    probabilities = torch.zeros(3, 1, 2, 2)
    probabilities[0, 0, 0, 0] = 0.9  # one of them found
    probabilities[2, 0, 1, 1] = 0.8  # image 2: a false alarm on an empty truth
    dice = per_image_dice(probabilities, truth, threshold=0.5)
    assert dice.tolist() == pytest.approx([2 * 1 / 3, 1.0, 0.0])


class MaskedImages(Dataset):
    """Images whose first pixel row is the mask (the model below copies it)."""

    def __init__(self) -> None:
        self.masks = torch.zeros(5, 1, 8, 8)
        self.masks[0, :, :4] = 1.0
        self.masks[3, :, 2:6, 2:6] = 1.0

    def __len__(self) -> int:
        return len(self.masks)

    def __getitem__(self, index: int) -> dict:
        mask = self.masks[index]
        return {"image": mask * 2 - 1, "mask": mask}


class Copy(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(10.0))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images * self.scale


def test_validate_is_the_mean_per_image_dice_and_leaves_the_model_training() -> None:
    fabric = Fabric(accelerator="cpu", devices=1)
    model = Copy().train()
    assert validate(fabric, model, MaskedImages(), 2, thresholds=(0.5,)).dice == pytest.approx(1.0)
    assert model.training
    with torch.no_grad():
        model.scale.fill_(-10.0)  # inverted: every target missed, every empty image flooded
    inverted = validate(fabric, model, MaskedImages(), 2, thresholds=(0.5,))
    assert inverted.dice == pytest.approx(0.0) and inverted.blank  # at every probe too


class Timid(torch.nn.Module):
    """Ranks targets right but below 0.5: p = 0.4 on target pixels, 0.1 elsewhere."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.logit(torch.where(images > 0, 0.4, 0.1))


def test_validation_keeps_the_best_of_its_thresholds() -> None:
    fabric = Fabric(accelerator="cpu", devices=1)
    # At 0.5 the two target images score 0 and the three empty ones 1: mean 0.6, the empty
    # share, and 0 on the images with a target; the blank probes (0.3) see its targets, so it is
    # not taken for a blank network.
    timid = validate(fabric, Timid(), MaskedImages(), 2, (0.5,))
    assert timid == ValidationScore(pytest.approx(0.6), 0.5, 0.0, blank=False)
    # At 0.3 every image is right; at 0.05 the empty ones are flooded.
    best = validate(fabric, Timid(), MaskedImages(), 2, (0.5, 0.3, 0.05))
    assert best == ValidationScore(pytest.approx(1.0), 0.3, pytest.approx(1.0), blank=False)
    # Equal scores: the first threshold in the given order wins.
    assert validate(fabric, Copy(), MaskedImages(), 2, (0.5, 0.3)).threshold == 0.5
    assert validate(fabric, Copy(), MaskedImages(), 2, (0.3, 0.5)).threshold == 0.3


def test_training_records_the_threshold_each_validation_chose(synthetic_data, tmp_path) -> None:
    config = tiny_config("training.validation_thresholds=[0.2, 0.35]", "inference.threshold=0.6")
    summary = train(config, synthetic_data, tmp_path / "swept", quiet=True)
    rows = read_csv(tmp_path / "swept" / "metrics.csv")
    assert {float(r["val_threshold"]) for r in rows} <= {0.2, 0.35}
    with_target = [float(r["val_dice_with_target"]) for r in rows if r["val_dice_with_target"]]
    assert with_target and all(0.0 <= dice <= 1.0 for dice in with_target)
    assert summary["best_val_dice"] == max(float(r["val_dice"]) for r in rows)
    train(tiny_config("inference.threshold=0.6"), synthetic_data, tmp_path / "plain", quiet=True)
    plain = read_csv(tmp_path / "plain" / "metrics.csv")
    assert [float(r["val_threshold"]) for r in plain] == [0.6] * len(plain)


def test_patch_training_validates_on_native_images(synthetic_data, tmp_path) -> None:
    config = tiny_config(
        "data.mode=patch",
        "data.input_size=[32, 32]",
        "data.foreground_oversample=0.5",
        "training.steps_per_epoch=3",
        "training.max_epochs=1",
    )
    run = tmp_path / "run"
    summary = train(config, synthetic_data, run, quiet=True)
    # The same model scored independently: native-size windows, threshold, evaluation's Dice.
    predictor = Predictor([run], inference=InferenceConfig(threshold=config.inference.threshold))
    items = {item.id: item for item in discover_items(synthetic_data)}
    val = [items[i] for i in json.loads(RunPaths(run).split.read_text())["val"]]
    preds = {item.id: mask for item, _, mask in predictor.predict_items(val)}
    truths = {item.id: read_mask(item.mask) for item in val}
    assert all(mask.shape == (64, 64) for mask in preds.values())
    _, scores = score_arrays(preds, truths, full=False, bootstrap=0)
    assert summary["best_val_dice"] == pytest.approx(scores.figure(HEADLINE_METRIC), abs=1e-6)
