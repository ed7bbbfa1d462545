"""``tune``'s greedy decisions on hand-made validation probabilities (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from sparseg.config import InferenceConfig
from sparseg.inference.postprocess import POSTPROCESS_STEPS
from sparseg.inference.tune import MIN_GAIN, Tuner, ValCase, gate_candidates, tune_steps

ORDER = [
    "tta",
    "threshold",
    "remove small objects",
    "closing",
    "fill holes",
    "keep largest component",
    "dense CRF",
    "empty-image gate",
]


def case(index: int, truth: np.ndarray, plain: np.ndarray, tta: np.ndarray) -> ValCase:
    gray = np.random.default_rng(index).random(truth.shape)
    return ValCase(f"case{index}", gray, truth, plain.astype(np.float32), tta.astype(np.float32))


def square_cases(plain_level: float, tta_level: float) -> list[ValCase]:
    """Targets drawn at ``plain_level`` in the plain maps; TTA maps put them at ``tta_level``
    and add a false square, so TTA helps only when it lifts the targets over the threshold."""
    cases = []
    for index in range(4):
        truth = np.zeros((32, 32), bool)
        truth[4 + index : 14 + index, 6:16] = True
        plain = np.where(truth, plain_level, 0.05)
        tta = np.where(truth, tta_level, 0.05)
        tta[24:30, 24:30] = 0.9
        cases.append(case(index, truth, plain, tta))
    return cases


def test_decisions_come_in_a_fixed_order_and_kept_means_a_real_gain() -> None:
    tuner = Tuner(square_cases(0.7, 0.7))
    tune_steps(tuner, InferenceConfig(), mean_area=1024.0)
    assert [row["step"] for row in tuner.decisions] == ORDER
    for row in tuner.decisions:
        assert row["kept"] == (row["dice_with"] > row["dice_without"] + MIN_GAIN)


def test_a_step_that_lowers_validation_dice_is_not_kept() -> None:
    tuner = Tuner(square_cases(0.7, 0.7))  # TTA only adds a false square
    tuned = tune_steps(tuner, InferenceConfig(), mean_area=1024.0)
    tta = tuner.decisions[0]
    assert tta["dice_with"] < tta["dice_without"] and not tta["kept"]
    assert not tuned.tta
    assert tuner.dice(tuned) >= tuner.dice(InferenceConfig())


def test_a_step_that_helps_is_kept_and_later_steps_build_on_it() -> None:
    tuner = Tuner(square_cases(0.3, 0.3))  # at 0.5 nothing is found; 0.25 finds every target
    tuned = tune_steps(tuner, InferenceConfig(), mean_area=1024.0)
    threshold = tuner.decisions[1]
    assert threshold["kept"] and tuned.threshold < 0.3
    assert tuner.dice(tuned) == pytest.approx(1.0)
    later = tuner.decisions[2:]
    assert all(row["dice_without"] == pytest.approx(1.0) for row in later)


def test_every_postprocessing_step_has_tune_candidates() -> None:
    varied: set[str] = set()

    class Recorder(Tuner):
        def consider(self, step, current, candidates):
            for _, cfg in candidates:
                default = InferenceConfig().postprocess
                varied.update(
                    f
                    for f in POSTPROCESS_STEPS
                    if getattr(cfg.postprocess, f) != getattr(default, f)
                )
            return current

    tune_steps(Recorder([]), InferenceConfig(), mean_area=1024.0)
    assert varied == set(POSTPROCESS_STEPS)


def presence_cases(with_head: bool) -> list[ValCase]:
    """Two images with a target, two empty ones with a false object of the same size and
    probability: only the presence head (0.9 vs 0.1) tells them apart."""
    cases = []
    for index in range(4):
        truth = np.zeros((32, 32), bool)
        if index < 2:
            truth[4:14, 6:16] = True
        probability = np.full((32, 32), 0.02)
        probability[4:14, 6:16] = 0.97
        one = case(index, truth, probability, probability)
        if with_head:
            one.presence = one.presence_tta = 0.9 if index < 2 else 0.1
        cases.append(one)
    return cases


def test_the_gate_decides_by_presence_when_only_the_head_separates_empty_images() -> None:
    tuner = Tuner(presence_cases(with_head=True))
    tuned = tune_steps(tuner, InferenceConfig(), mean_area=1024.0)
    gate = tuner.decisions[-1]
    assert gate["step"] == "empty-image gate" and gate["kept"]
    assert gate["setting"].startswith("presence p <")
    assert tuned.empty_gate.enabled and 0.1 < tuned.empty_gate.min_presence_probability <= 0.9
    assert tuner.dice(tuned) == pytest.approx(1.0) and gate["dice_without"] == pytest.approx(0.5)


def test_presence_candidates_only_for_models_with_a_head() -> None:
    offered: list[str] = []

    class Recorder(Tuner):
        def consider(self, step, current, candidates):
            offered.extend(label for label, _ in candidates)
            return current

    tune_steps(Recorder(presence_cases(with_head=False)), InferenceConfig(), mean_area=1024.0)
    assert offered and not any("presence" in label for label in offered)
    offered.clear()
    tune_steps(Recorder(presence_cases(with_head=True)), InferenceConfig(), mean_area=1024.0)
    assert "presence p < 0.5" in offered and "presence p < 0.5 or max p < 0.8" in offered


def test_the_tuner_finishes_masks_as_finish_mask_and_runs_the_crf_once_per_setting(
    monkeypatch,
) -> None:
    """The gate's candidates after a kept CRF reuse its masks; none differs from the one path."""
    import sparseg.inference.finish as finish

    calls = []
    real_crf = finish.crf_refine
    monkeypatch.setattr(finish, "crf_refine", lambda *args: calls.append(1) or real_crf(*args))
    cases = presence_cases(with_head=True)
    crf = InferenceConfig.model_validate({"crf": {"enabled": True}})
    settings = [crf, *(cfg for _, cfg in gate_candidates(crf, [4, 50], presence=True))]
    settings += [InferenceConfig(), crf]  # another setting, then back: still kept
    tuner = Tuner(cases)
    finished = [tuner.masks(cfg) for cfg in settings]
    assert len(calls) == len(cases)  # one CRF per image for every gate setting
    for cfg, masks in zip(settings, finished, strict=True):
        for one in cases:
            expected = finish.finish_mask(one.plain, one.gray, cfg, one.presence)
            assert np.array_equal(masks[one.id], expected)
    assert any(not masks[cases[2].id].any() for masks in finished)  # some setting gated
