"""A minute-bound sweep resumed on a machine of another pace is refused before anything runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from sparseg.ablation import SweepSettings, run_ablation
from sparseg.ablation.ladder import load_ladder
from sparseg.ablation.local import LocalPool
from sparseg.ablation.pace import _time_stage, check_pace, require_same_pace
from sparseg.ablation.plan import plan_units
from sparseg.config import load_config
from sparseg.data.synthetic import synthesize
from sparseg.errors import SparsegError

BASE = {"model": {"encoder": "resnet18"}, "data": {"input_size": [32, 32]}}
STAGES = [
    {"name": "basic"},
    {"name": "+ smaller first", "overrides": {"training.progressive": {"start_scale": 0.5}}},
]


def write_ladder(folder: Path) -> Path:
    (folder / "base.yaml").write_text(yaml.safe_dump(BASE))
    path = folder / "ladder.yaml"
    path.write_text(yaml.safe_dump({"base": "base.yaml", "stages": STAGES}))
    return path


def finish(run_dir: Path, steps: int, step_seconds: float, in_channels: int | None = 3) -> None:
    run_dir.mkdir(parents=True)
    summary = {"steps": steps, "step_seconds": step_seconds, "in_channels": in_channels}
    (run_dir / "train_summary.json").write_text(json.dumps(summary))
    (run_dir / "evaluation.json").write_text(json.dumps({"n_images": 3}))


def units_of(folder: Path, seeds: int) -> list:
    ladder = load_ladder(write_ladder(folder))
    return plan_units(ladder, {1: folder / "split.json"}, folder / "sweep", seeds)


def test_the_pace_is_compared_on_a_stage_with_finished_and_pending_runs(tmp_path: Path) -> None:
    finish(tmp_path / "sweep" / "01-basic" / "seed0", steps=100, step_seconds=150.0)
    finish(tmp_path / "sweep" / "01-basic" / "seed1", steps=100, step_seconds=170.0)
    timed: list[tuple[int, int]] = []

    def timer(config, channels: int) -> float:
        timed.append((config.training.batch_size, channels))
        return 4.8

    check = check_pace(units_of(tmp_path, seeds=3), timer)
    assert check is not None and check.stage == "basic" and timed == [(16, 3)]
    assert check.finished_seconds == pytest.approx(1.6)  # the median of 1.5 and 1.7
    assert check.ratio == pytest.approx(3.0) and check.differs
    assert "4.80 s here and took 1.60 s in the finished runs (3.0x slower)" in check.describe()
    assert not check_pace(units_of(tmp_path, seeds=3), lambda config, channels: 1.9).differs
    faster = check_pace(units_of(tmp_path, seeds=3), lambda config, channels: 0.5)
    assert faster.differs and "(3.2x faster)" in faster.describe()
    with pytest.raises(SparsegError, match=r"15 minutes per run .* pass --mixed-pace"):
        require_same_pace(units_of(tmp_path, seeds=3), tmp_path / "sweep", 15, timer)


def test_no_check_without_both_finished_and_pending_runs_of_one_plain_stage(
    tmp_path: Path,
) -> None:
    def must_not_time(config, channels: int) -> float:
        raise AssertionError("nothing to compare: nothing is timed")

    assert check_pace(units_of(tmp_path, seeds=2), must_not_time) is None  # a new sweep
    # progressive resizing trained part of its recorded steps smaller: passed over
    finish(tmp_path / "sweep" / "02-smaller-first" / "seed0", steps=10, step_seconds=5.0)
    assert check_pace(units_of(tmp_path, seeds=2), must_not_time) is None
    finish(tmp_path / "sweep" / "01-basic" / "seed0", steps=10, step_seconds=5.0)
    finish(tmp_path / "sweep" / "01-basic" / "seed1", steps=10, step_seconds=5.0)
    assert check_pace(units_of(tmp_path, seeds=2), must_not_time) is None  # a finished stage
    assert check_pace(units_of(tmp_path, seeds=3), lambda config, channels: 1.0) is not None
    # a summary from before step times and channels were recorded: nothing to compare with
    older = tmp_path / "older"
    older.mkdir()
    finish(older / "sweep" / "01-basic" / "seed0", steps=10, step_seconds=5.0, in_channels=None)
    assert check_pace(units_of(older, seeds=2), must_not_time) is None


def test_a_machine_with_cuda_is_not_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    finish(tmp_path / "sweep" / "01-basic" / "seed0", steps=100, step_seconds=150.0)
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    assert check_pace(units_of(tmp_path, seeds=2), lambda config, channels: 60.0) is None


def test_a_resumed_minute_bound_sweep_on_another_pace_runs_nothing_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    synthesize(data, n=12, size=(32, 32), fg=0.05, empty=0.2, seed=1)
    ladder, out = write_ladder(tmp_path), tmp_path / "sweep"
    finish(out / "01-basic" / "seed0", steps=100, step_seconds=150.0)
    monkeypatch.setattr("sparseg.ablation.pace._time_stage", lambda config, channels: 6.0)
    ran: list[str] = []
    monkeypatch.setattr(LocalPool, "_command", lambda sweep, run, args, device: ran.append(args[0]))
    with pytest.raises(SparsegError, match=r"sweep: a `basic` training step takes 6.00 s here"):
        run_ablation(data, ladder, out, SweepSettings(seeds=2, minutes_per_run=15, quiet=True))
    assert ran == [] and not (out / "01-basic" / "seed1").exists()
    assert (out / "01-basic" / "seed0" / "evaluation.json").is_file()  # nothing written is lost
    stepped = tmp_path / "stepped"  # a step budget buys the same steps anywhere: no check
    finish(stepped / "01-basic" / "seed0", steps=100, step_seconds=150.0)
    run_ablation(data, ladder, stepped, SweepSettings(seeds=2, steps_per_run=5, quiet=True))
    assert "train" in ran
    ran.clear()
    mixed = SweepSettings(seeds=2, minutes_per_run=15, quiet=True, mixed_pace=True)
    run_ablation(data, ladder, out, mixed)
    assert "train" in ran


def test_the_real_timer_times_a_stage_step_with_its_extra_heads_left_out() -> None:
    config = load_config(
        None,
        [
            "model.encoder=resnet18",
            "data.input_size=[32, 32]",
            "training.batch_size=2",
            "training.accelerator=cpu",
            "model.deep_supervision=true",
            "model.presence_head=true",
            "model.encoder_weights=imagenet",  # not loaded: offline here, and not needed
        ],
    )
    seconds = _time_stage(config, in_channels=1)
    assert math.isfinite(seconds) and seconds > 0
    assert config.model.deep_supervision  # the stage's own config is left as it was
