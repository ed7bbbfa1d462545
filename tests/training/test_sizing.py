"""The planner sized by minutes: candidate settings, the choice (a pure function of injected
timings), the merged plan, the real step timer and ``sparseg inspect --minutes``."""

from __future__ import annotations

import json
import math

import pytest

from sparseg.config import validate_config
from sparseg.data.plan import aspect_true_sizes, input_area_floor, plan_overrides, propose_config
from sparseg.training import sizing
from sparseg.training.sizing import (
    ENOUGH_STEPS,
    Candidate,
    Timed,
    apply_sizing,
    candidates,
    choose,
    plan_for_minutes,
    time_step,
)
from tests.data.test_plan import make_fp
from tests.helpers import tiny_config


def fake_timer(candidate: Candidate, config, in_channels: int) -> float:
    """Seconds per step: a fixed part plus one growing with pixels per batch; resnet34 1.5x."""
    per_pixel = 2e-6 * (1.5 if candidate.encoder == "resnet34" else 1.0)
    return 0.1 + per_pixel * candidate.area * candidate.batch_size


def timed(encoder: str, size: int, seconds: float) -> Timed:
    return Timed(Candidate(encoder, (size, size), 8), seconds)


def test_aspect_true_sizes_keep_the_image_shape_above_the_small_object_floor() -> None:
    fp = make_fp(height=192, width=256, smallest=0.001)  # floor 16,000 px
    sizes = aspect_true_sizes(fp, [96 * 96, 128 * 128, 192 * 192, 512 * 512])
    assert sizes == sorted(sizes, key=lambda s: s[0] * s[1]) and len(set(sizes)) == len(sizes)
    for height, width in sizes:
        assert height % 32 == 0 and width % 32 == 0
        assert abs(math.log(width / height / (256 / 192))) < 0.2  # 4:3, not squashed
        assert height * width >= input_area_floor(fp) and height * width <= 192 * 256
    assert sizes[-1] == (192, 256)  # capped at the native size
    assert all(h * w >= 16_000 for h, w in sizes)
    assert aspect_true_sizes(make_fp(height=192, width=256, smallest=0.002), [96 * 128]) == [
        (96, 128)
    ]


def test_choice_follows_the_rule_in_order() -> None:
    minutes, proposed = 15.0, 128 * 128
    per_minute = ENOUGH_STEPS / (minutes * 60 * sizing.EXPECTED_STEP_SHARE)
    enough = 0.99 / per_minute  # seconds per step that still make ENOUGH_STEPS
    options = [
        timed("resnet18", 96, enough / 3),
        timed("resnet34", 96, enough / 2),
        timed("resnet18", 128, enough),
        timed("resnet34", 128, enough * 1.4),
        timed("resnet18", 160, enough / 1.5),  # larger and enough, but no steps to spare
    ]
    chosen, lines = choose(options, minutes, proposed)
    assert chosen is options[2] and len(lines) == len(options)
    assert lines[0].startswith("resnet18 at 128x128, batch 8") and "chosen" in lines[0]
    # the proposal's size is too slow: the largest smaller size that makes enough
    slower = [timed("resnet18", 96, enough / 1.2), timed("resnet18", 128, enough * 2)]
    assert choose(slower, minutes, proposed)[0] is slower[0]
    # steps to spare: a larger input, and at that size the larger encoder
    plenty = [
        timed("resnet18", 128, enough / 8),
        timed("resnet18", 160, enough / 4),
        timed("resnet34", 160, enough / 2.5),
        timed("resnet18", 192, enough),
    ]
    assert choose(plenty, minutes, proposed)[0] is plenty[2]
    # nothing makes enough: the fastest, and the line says so
    slow = [timed("resnet18", 128, enough * 3), timed("resnet34", 128, enough * 5)]
    chosen, lines = choose(slow, minutes, proposed)
    assert chosen is slow[0] and "the fastest" in lines[0]


def test_plan_for_minutes_is_deterministic_and_validates(monkeypatch) -> None:
    fp = make_fp(height=192, width=256, n_pairs=2000, smallest=0.002)
    plan = propose_config(fp, memory_gb=16, cpu_only=True)
    first, lines = plan_for_minutes(fp, plan, 15, timer=fake_timer, memory_gb=16)
    again, _ = plan_for_minutes(fp, plan, 15, timer=fake_timer, memory_gb=16)
    assert first == again
    proposed = tuple(plan["data"]["input_size"])
    found = candidates(fp, "resize", proposed, "cpu", 16)
    assert len(lines) == len(found) and len(found) >= 4 and len(found) % 2 == 0
    assert proposed in {c.input_size for c in found}
    assert first["training"]["max_minutes"] == 15 and first["model"]["encoder"] == "resnet18"
    monkeypatch.setattr(sizing, "time_step", fake_timer)
    sized = apply_sizing(fp, plan, 15)
    validate_config(plan_overrides(sized))
    assert sized["data"]["input_size"] == first["data"]["input_size"]
    assert not any(
        reason.startswith(("resize ", "encoder ", "batch ")) for reason in sized["reasons"]
    )
    assert sum(reason.startswith("timed: ") for reason in sized["reasons"]) == len(found)
    # more minutes afford a larger input; too few minutes take the setting with the most steps
    longer, _ = plan_for_minutes(fp, plan, 120, timer=fake_timer, memory_gb=16)
    assert math.prod(longer["data"]["input_size"]) > math.prod(first["data"]["input_size"])
    _, short_lines = plan_for_minutes(fp, plan, 1, timer=fake_timer, memory_gb=16)
    assert "the fastest" in short_lines[0]
    steps = [int(line.split(" → ")[1].split(" steps")[0].replace(",", "")) for line in short_lines]
    assert steps[0] == max(steps)


def test_patch_plans_time_only_the_planned_patch() -> None:
    found = candidates(make_fp(), "patch", (128, 160), "cpu", 16)
    assert {c.input_size for c in found} == {(128, 160)}
    assert [c.encoder for c in found] == list(sizing.CANDIDATE_ENCODERS)


def test_the_real_timer_measures_a_training_step(monkeypatch) -> None:
    monkeypatch.setattr(sizing, "TIMING_SECONDS", 0.05)
    seconds = time_step(Candidate("resnet18", (32, 32), 2), tiny_config(), in_channels=1)
    assert 0 < seconds < 30


def test_inspect_minutes_prints_the_timed_settings(run_cli, synthetic_data, tmp_path, monkeypatch):
    monkeypatch.setattr(sizing, "time_step", fake_timer)
    out = tmp_path / "fp.json"
    result = run_cli("inspect", synthetic_data, "--minutes", "5", "--json", out)
    assert result.code == 0, result.stderr
    assert "timed: " in result.stdout and "chosen" in result.stdout
    plan = json.loads(out.read_text())["proposed_config"]
    assert plan["training"]["max_minutes"] == 5
    validate_config(plan_overrides(plan))
    assert plan["pretraining"]["pretrain_minutes"] == 0  # nothing measured to pay yet
    assert "pretraining: none" in result.stdout


@pytest.mark.parametrize("minutes", ["0", "-3"])
def test_inspect_refuses_minutes_below_a_tenth(run_cli, synthetic_data, minutes) -> None:
    assert run_cli("inspect", synthetic_data, "--minutes", minutes).code == 2
