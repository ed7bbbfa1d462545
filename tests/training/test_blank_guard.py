"""The blank-network guard: its rules, and the loop on a network forced blank."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch

from sparseg.config import BlankGuardConfig
from sparseg.errors import SparsegWarning
from sparseg.models import build_model
from sparseg.training import loop, train
from sparseg.training.blank_guard import BLANK_BELOW, is_blank, next_restart, restart_due
from tests.helpers import tiny_config

GUARD = BlankGuardConfig(after=0.2, max_restarts=2, lr_factor=0.5)


def test_a_validation_is_blank_when_no_target_is_marked() -> None:
    assert is_blank(0.40, 0.0)  # the empty images' Dice, nothing on the targets
    assert is_blank(0.40, BLANK_BELOW / 2)
    assert not is_blank(0.40, 0.2)
    assert not is_blank(0.5, math.nan) and is_blank(0.0, math.nan)  # no target: overall Dice


def test_a_restart_waits_for_its_share_of_the_budget_and_counts_down() -> None:
    assert not restart_due(GUARD, 0.19, 0.0, True, 0)
    assert restart_due(GUARD, 0.2, 0.0, True, 0)
    assert not restart_due(GUARD, 0.5, 0.0, False, 0)  # it marked a target once
    assert not restart_due(GUARD, 0.35, 0.2, True, 1)  # a restarted network gets its share too
    assert restart_due(GUARD, 0.4, 0.2, True, 1)
    assert not restart_due(GUARD, 0.9, 0.4, True, 2)  # none left
    assert not restart_due(BlankGuardConfig(enabled=False), 0.9, 0.0, True, 0)
    first, second = next_restart(GUARD, 7, 10, 0.2, 0), next_restart(GUARD, 7, 20, 0.4, 1)
    assert len({7, first.seed, second.seed}) == 3
    assert (first.lr_scale, second.lr_scale) == (0.5, 0.25)


def _blank_network(config, in_channels, foreground=None):
    """A head that can only answer background: negative weights over ReLU features, a bias
    far below 0 (its sigmoid's gradient has vanished)."""
    net = build_model(config, in_channels, foreground)
    head = net.model.segmentation_head[0]
    with torch.no_grad():
        head.weight.copy_(-head.weight.abs())
        head.bias.fill_(-30.0)
    return net


def _forced_blank_first(monkeypatch, base_seed: int) -> None:
    """The network of ``base_seed`` is forced blank; restarts (other seeds) build normally."""
    build = loop.build_model

    def builder(config, in_channels, foreground=None):
        if torch.initial_seed() == base_seed:
            return _blank_network(config, in_channels, foreground)
        return build(config, in_channels, foreground)

    monkeypatch.setattr(loop, "build_model", builder)


GUARDED = (
    "training.max_epochs=5",
    "training.lr=0.003",
    "training.validation_thresholds=[0.1, 0.3, 0.5]",
    "training.blank_guard.after=0.2",
)


def test_a_network_forced_blank_is_restarted_then_learns_and_resumes_exactly(
    synthetic_data, tmp_path, monkeypatch
) -> None:
    _forced_blank_first(monkeypatch, base_seed=0)
    run = tmp_path / "run"
    summary = train(tiny_config(*GUARDED), synthetic_data, run, quiet=True)
    [restart] = summary["restarts"]
    assert restart["seed"] != 0 and restart["lr_scale"] == 0.5 and restart["progress"] >= 0.2
    assert summary["blank"] is False and summary["best_val_dice"] > 0
    with open(run / "metrics.csv") as stream:
        flags = [float(row["val_blank"]) for row in csv.DictReader(stream)]
    assert flags[0] == 1.0 and flags[-1] == 0.0
    best = torch.load(run / "best.ckpt", weights_only=True)
    assert best["blank"] is False and best["epoch"] >= 1  # chosen after the restart
    assert json.loads((run / "train_summary.json").read_text())["restarts"] == [restart]

    partial = tmp_path / "partial"
    train(tiny_config(*GUARDED, "training.max_epochs=2"), synthetic_data, partial, quiet=True)
    resumed = train(tiny_config(*GUARDED), synthetic_data, partial, resume=True, quiet=True)
    for key in ("best_val_dice", "final_train_loss", "steps"):
        assert resumed[key] == summary[key], key
    assert [(r["step"], r["seed"]) for r in resumed["restarts"]] == [(restart["step"], 1000003)]


def test_without_the_guard_the_forced_blank_network_stays_blank_and_is_flagged(
    synthetic_data, tmp_path, monkeypatch
) -> None:
    _forced_blank_first(monkeypatch, base_seed=0)
    run = tmp_path / "run"
    with pytest.warns(SparsegWarning, match="stayed blank"):
        summary = train(
            tiny_config(*GUARDED, "training.max_epochs=2", "training.blank_guard.enabled=false"),
            synthetic_data,
            run,
            quiet=True,
        )
    assert summary["blank"] is True and summary["restarts"] == []
    assert torch.load(run / "best.ckpt", weights_only=True)["blank"] is True


def test_a_network_that_stays_blank_uses_every_restart_then_is_flagged(
    synthetic_data, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(loop, "build_model", _blank_network)  # every seed blank
    with pytest.warns(SparsegWarning, match="2 restart"):
        summary = train(
            tiny_config(*GUARDED, "training.max_epochs=3"),
            synthetic_data,
            tmp_path / "run",
            quiet=True,
        )
    assert [r["step"] for r in summary["restarts"]] == [3, 6] and summary["blank"] is True
