"""Cost accounting and the validation/checkpoint cadence."""

from __future__ import annotations

import math

import pytest
import torch

from sparseg.training.costs import COST_PARTS, Cadence, CostClock


def test_clock_books_each_part_and_carries_over_a_resume() -> None:
    clock = CostClock(torch.device("cpu"), {"step": 10.0})
    with clock.measure("data"):
        pass
    with pytest.raises(RuntimeError), clock.measure("validation"):
        raise RuntimeError("booked even when it fails")
    assert clock.seconds["step"] == 10.0 and clock.seconds["data"] >= 0.0
    summary = clock.summary(wall_seconds=20.0)
    assert set(summary) == {f"{p}_seconds" for p in COST_PARTS} | {"other_seconds", "step_share"}
    assert summary["step_share"] == 0.5
    assert summary["other_seconds"] == pytest.approx(20.0 - sum(clock.seconds.values()), abs=0.01)
    assert clock.training_seconds() == pytest.approx(10.0 + clock.seconds["data"])
    assert CostClock(torch.device("cpu")).summary(0.0)["step_share"] == 0.0


def test_validation_interval() -> None:
    fixed = Cadence(3, 1, 2.0, budgeted=True)
    assert fixed.validation_interval(1, 100.0, 1.0) == 3
    unbudgeted = Cadence("auto", 1, 2.0, budgeted=False)
    assert unbudgeted.validation_interval(4, 100.0, 1.0) == 1
    auto = Cadence("auto", 1, 2.0, budgeted=True)
    assert auto.validation_interval(1, 0.2, 10.0) == 1  # 2 % of an epoch: every epoch
    assert auto.validation_interval(1, 1.0, 10.0) == 2  # 10 %: every second epoch keeps 5 %
    assert auto.validation_interval(1, 3.0, 4.0) == math.ceil(3.0 / (0.05 * 4.0))
    assert auto.validation_interval(5, 0.0, 0.0) == 5  # nothing measured yet: keep it


def test_checkpoint_by_epochs_without_budget_and_by_minutes_with_one() -> None:
    by_epochs = Cadence("auto", 2, 2.0, budgeted=False)
    assert [by_epochs.should_checkpoint(e, 0.0, 0.0) for e in (1, 2, 3, 4)] == [
        False,
        True,
        False,
        True,
    ]
    by_time = Cadence("auto", 1, 2.0, budgeted=True)
    assert not by_time.should_checkpoint(5, elapsed=150.0, last_written=60.0)
    assert by_time.should_checkpoint(6, elapsed=181.0, last_written=60.0)
