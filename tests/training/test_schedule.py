import math

import pytest
import torch

from sparseg.config import ProgressiveConfig, TrainingConfig
from sparseg.training.schedule import LRSchedule, progressive_scale


def test_warmup_runs_at_reduced_lr_then_cosine_decays_to_floor() -> None:
    schedule = LRSchedule(TrainingConfig(lr=1.0, schedule="cosine", warmup_factor=0.1), 0.2)
    assert schedule.factor(0.0) == pytest.approx(0.1)
    assert schedule.factor(0.19) == pytest.approx(0.1)
    assert schedule.factor(0.2) == pytest.approx(1.0)
    assert schedule.factor(0.6) == pytest.approx(0.01 + 0.99 * 0.5)
    assert schedule.factor(1.0) == pytest.approx(0.01)


def test_constant_schedule_keeps_lr_after_warmup() -> None:
    schedule = LRSchedule(TrainingConfig(lr=1.0, schedule="constant"), 0.0)
    assert [schedule.factor(p) for p in (0.0, 0.5, 1.0)] == [1.0, 1.0, 1.0]


def test_plateau_reduces_after_patience_and_respects_the_cap() -> None:
    config = TrainingConfig(
        lr=1.0, schedule="plateau", plateau_patience=2, plateau_factor=0.5, max_lr_reductions=2
    )
    schedule = LRSchedule(config, 0.0)
    schedule.observe(0.5)
    for _ in range(2):
        schedule.observe(0.4)
    assert schedule.factor(0.5) == pytest.approx(0.5)
    for _ in range(10):
        schedule.observe(0.4)
    assert schedule.factor(0.5) == pytest.approx(0.25)  # capped at two reductions
    restored = LRSchedule(config, 0.0)
    restored.load_state_dict(schedule.state_dict())
    assert restored.factor(0.5) == pytest.approx(0.25)


def test_apply_sets_every_param_group() -> None:
    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    optimizer = torch.optim.SGD([{"params": params[:1]}, {"params": params[1:]}], lr=5.0)
    schedule = LRSchedule(TrainingConfig(lr=2.0, schedule="cosine", min_lr_factor=0.0), 0.0)
    lr = schedule.apply(optimizer, 0.5)
    assert lr == pytest.approx(1.0)
    assert [group["lr"] for group in optimizer.param_groups] == [pytest.approx(1.0)] * 2
    assert math.isclose(schedule.factor(1.0), 0.0, abs_tol=1e-12)


def test_progressive_scale_follows_the_runs_progress() -> None:
    config = ProgressiveConfig(start_scale=0.5, until_fraction=0.3)
    assert [progressive_scale(config, p) for p in (0.0, 0.29, 0.3, 0.9)] == [0.5, 0.5, 1.0, 1.0]
    assert progressive_scale(None, 0.0) == 1.0


def test_poly_decays_to_zero_with_nnunets_exponent_after_warmup() -> None:
    schedule = LRSchedule(TrainingConfig(lr=1.0, schedule="poly", poly_exponent=0.9), 0.0)
    assert schedule.factor(0.0) == pytest.approx(1.0)
    assert schedule.factor(0.5) == pytest.approx(0.5**0.9)
    assert schedule.factor(1.0) == pytest.approx(0.0)
    warmed = LRSchedule(TrainingConfig(lr=1.0, schedule="poly", warmup_factor=0.1), 0.2)
    assert warmed.factor(0.1) == pytest.approx(0.1)
    assert warmed.factor(0.6) == pytest.approx(0.5**0.9)


def test_the_blank_guards_scale_multiplies_the_scheduled_lr() -> None:
    schedule = LRSchedule(TrainingConfig(lr=0.2, schedule="constant"), 0.0)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    assert schedule.apply(optimizer, 0.5, 0.25) == pytest.approx(0.05)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
