"""Weight EMA (``training.ema``): the update rule with its decay warm-up, what validation and
``best.ckpt`` use, the memory format, and an exact resume of the average."""

from __future__ import annotations

import pytest
import torch

from sparseg.config import EmaConfig
from sparseg.models.checkpoint import load_checkpoint
from sparseg.training import loop, train
from sparseg.training.ema import WeightAverage, build_weight_average
from tests.helpers import tiny_config


def linear(value: float) -> torch.nn.Linear:
    layer = torch.nn.Linear(1, 1, bias=False)
    layer.weight.data.fill_(value)
    return layer


def test_the_average_starts_as_a_copy_then_follows_the_warmed_up_decay() -> None:
    model = linear(1.0)
    average = WeightAverage(model, EmaConfig(enabled=True, decay=0.9, warmup_power=0.75))
    model.weight.data.fill_(4.0)
    average.update(model, step=1)  # the first step: a copy, whatever the start
    assert average.module.weight.item() == pytest.approx(4.0)
    decay = 1 - 2**-0.75  # timm's warm-up at the second step: 1 - (1 + 1) ** -power
    assert average.decay(2) == pytest.approx(decay)
    model.weight.data.fill_(0.0)
    average.update(model, step=2)
    assert average.module.weight.item() == pytest.approx(4.0 * decay)
    assert average.decay(10_000) == pytest.approx(0.9)  # capped at the configured decay


def test_without_warmup_the_decay_is_constant_after_the_first_step() -> None:
    model = linear(2.0)
    average = WeightAverage(model, EmaConfig(enabled=True, decay=0.5, warmup=False))
    average.update(model, step=1)
    model.weight.data.fill_(0.0)
    average.update(model, step=2)
    assert average.module.weight.item() == pytest.approx(1.0)
    assert build_weight_average(model, EmaConfig()) is None  # off by default


EMA = ("training.ema.enabled=true", "training.ema.decay=0.9", "training.val_every=1")


def test_validation_and_best_checkpoint_use_the_average(
    synthetic_data, tmp_path, monkeypatch
) -> None:
    validated, saved = [], []
    validate_cached = loop.validate_cached
    save_best = loop.Trainer._save_best

    def spy_validate(fabric, model, *args):
        validated.append(model)
        return validate_cached(fabric, model, *args)

    def spy_best(self, epoch, dice) -> None:
        save_best(self, epoch, dice)
        averaged = self.average.module.model.state_dict()  # the plain smp part of the average
        best = load_checkpoint(self.paths.best)["model"]
        saved.append(best.keys() == averaged.keys())
        saved.append(all(torch.equal(best[k], averaged[k]) for k in averaged))

    monkeypatch.setattr(loop, "validate_cached", spy_validate)
    monkeypatch.setattr(loop.Trainer, "_save_best", spy_best)
    seen: list = []
    build = loop.Trainer._build_model

    def keep(self, *args) -> None:
        build(self, *args)
        seen.append(self)

    monkeypatch.setattr(loop.Trainer, "_build_model", keep)
    train(tiny_config(*EMA), synthetic_data, tmp_path / "run", quiet=True)
    trainer = seen[0]
    assert validated and all(model is trainer.average.module for model in validated)
    assert saved and all(saved)
    weight = trainer.average.module.model.decoder.blocks[0].conv1[0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last)  # the default format kept
    raw = trainer.model.state_dict()
    averaged = trainer.average.state_dict()
    assert any(not torch.equal(raw[k], averaged[k]) for k in raw)  # an average, not a copy


def test_a_resumed_run_continues_the_very_same_average(synthetic_data, tmp_path) -> None:
    straight = tiny_config(*EMA, "training.max_epochs=3")
    train(straight, synthetic_data, tmp_path / "a", quiet=True)
    train(tiny_config(*EMA, "training.max_epochs=1"), synthetic_data, tmp_path / "b", quiet=True)
    train(straight, synthetic_data, tmp_path / "b", resume=True, quiet=True)
    for name in ("last.ckpt", "best.ckpt"):
        want, have = load_checkpoint(tmp_path / "a" / name), load_checkpoint(tmp_path / "b" / name)
        key = "ema" if name == "last.ckpt" else "model"
        assert want[key].keys() == have[key].keys()
        assert all(torch.equal(want[key][k], have[key][k]) for k in want[key]), name
    assert "ema" not in load_checkpoint(tmp_path / "a" / "best.ckpt")  # weights only


def test_restore_loads_the_saved_average_or_starts_from_the_resumed_weights(tmp_path) -> None:
    from sparseg.errors import SparsegError

    model = linear(3.0)
    average = WeightAverage(model, EmaConfig(enabled=True))
    average.restore({"weight": torch.tensor([[7.0]])}, model, tmp_path / "last.ckpt")
    assert average.module.weight.item() == 7.0
    average.restore(None, model, tmp_path / "last.ckpt")  # a checkpoint written without EMA
    assert average.module.weight.item() == 3.0
    with pytest.raises(SparsegError, match=r"last\.ckpt: checkpoint does not fit"):
        average.restore({"bias": torch.zeros(1)}, model, tmp_path / "last.ckpt")
