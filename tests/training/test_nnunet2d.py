"""configs/nnunet2d.yaml: nnU-Net v2's 2D recipe in sparseg's keys, trained at toy size."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from torch import nn

from sparseg.config import load_config
from sparseg.errors import SparsegError
from sparseg.models import build_model
from sparseg.training import train

PRESET = Path(__file__).parents[2] / "configs" / "nnunet2d.yaml"
TOY = [  # sizes and lengths only: the recipe stays nnU-Net's
    "data.input_size=[64, 64]",
    "model.encoder=resnet18",
    "training.batch_size=4",
    "training.steps_per_epoch=2",
    "training.max_epochs=2",
    "training.max_steps=null",
    "training.precision=32-true",
    "training.accelerator=cpu",
    "inference.tta=false",
]


def test_the_preset_says_what_nnunet_trains_with() -> None:
    config = load_config(PRESET)
    training, model, loss = config.training, config.model, config.loss
    assert (training.optimizer, training.lr, training.momentum) == ("sgd", 0.01, 0.99)
    assert (training.weight_decay, training.schedule, training.poly_exponent) == (3e-5, "poly", 0.9)
    assert (training.grad_clip, training.val_dice_smoothing) == (12.0, 0.9)
    assert loss.terms == {"dice": 1.0, "bce": 1.0} and loss.region_reduction == "batch"
    assert (model.norm, model.activation, model.deep_supervision) == (
        "instance",
        "leaky_relu",
        True,
    )
    assert model.deep_supervision_weights == [1.0, 0.5, 0.25, 0.125]
    assert (config.data.mode, config.data.foreground_oversample) == ("patch", 0.33)
    assert config.inference.sliding_window and config.inference.window_overlap == 0.5
    augment = config.augment
    for name in ("gamma", "low_resolution", "brightness_multiplicative", "gaussian_noise"):
        assert getattr(augment, name).p > 0, name


@pytest.mark.filterwarnings("ignore:.*stayed blank")  # four steps teach it nothing yet
def test_the_preset_trains_end_to_end_at_toy_size(synthetic_data, tmp_path) -> None:
    run = tmp_path / "run"
    summary = train(load_config(PRESET, TOY), synthetic_data, run, quiet=True)
    assert summary["steps"] == 4 and summary["stop_reason"] == "max_epochs"
    best = torch.load(run / "best.ckpt", weights_only=True)
    net = build_model(load_config(PRESET, TOY).model, in_channels=1)
    net.model.load_state_dict(best["model"])  # the plain network, instance-normalised
    assert any(isinstance(m, nn.InstanceNorm2d) for m in net.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    with open(run / "metrics.csv") as stream:
        rows = list(csv.DictReader(stream))
    lrs = [float(row["lr"]) for row in rows]
    assert lrs[0] > lrs[-1]  # poly decay
    assert all(row["val_dice"] != "" for row in rows)  # validated through the windows


def test_instance_norm_refuses_inputs_too_small_to_normalise() -> None:
    with pytest.raises(SparsegError, match=r"model\.norm instance needs data\.input_size"):
        load_config(PRESET, ["data.input_size=[32, 64]"])
