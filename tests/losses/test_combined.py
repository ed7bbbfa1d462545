"""build_loss: terms, weights, pos_weight, focal BCE and deep supervision against hand values."""

from __future__ import annotations

import math

import pytest
import torch

from sparseg.config import LossConfig
from sparseg.errors import SparsegError
from sparseg.losses import build_loss

LN2 = math.log(2)
TARGET = torch.tensor([1.0, 0.0]).reshape(1, 1, 1, 2)
ZERO_LOGITS = torch.zeros(1, 1, 1, 2)


def test_bce_pos_weight_multiplies_the_positive_pixels() -> None:
    plain = build_loss(LossConfig(terms={"bce": 1.0}))
    weighted = build_loss(LossConfig(terms={"bce": 1.0}, pos_weight=3.0))
    assert plain(ZERO_LOGITS, TARGET).item() == pytest.approx(LN2)
    assert weighted(ZERO_LOGITS, TARGET).item() == pytest.approx((3 * LN2 + LN2) / 2)


def test_auto_pos_weight_takes_the_callers_value_and_needs_one() -> None:
    config = LossConfig(terms={"bce": 1.0}, pos_weight="auto")
    loss = build_loss(config, pos_weight=3.0)
    assert loss(ZERO_LOGITS, TARGET).item() == pytest.approx(2 * LN2)
    with pytest.raises(SparsegError, match=r"loss\.pos_weight"):
        build_loss(config)


def test_a_configured_pos_weight_wins_over_the_callers() -> None:
    loss = build_loss(LossConfig(terms={"bce": 1.0}, pos_weight=3.0), pos_weight=10.0)
    assert loss(ZERO_LOGITS, TARGET).item() == pytest.approx(2 * LN2)


def test_focal_uses_gamma_and_alpha() -> None:
    logits = torch.tensor([math.log(3), 0.0]).reshape(1, 1, 1, 2)  # p = .75 and .5
    positive = 0.25 * (0.25**2) * -math.log(0.75)  # alpha · (1 − pt)^γ · −log pt
    negative = 0.75 * (0.5**2) * LN2
    config = LossConfig(terms={"focal": 1.0}, focal_gamma=2.0, focal_alpha=0.25)
    assert build_loss(config)(logits, TARGET).item() == pytest.approx((positive + negative) / 2)
    no_focus = LossConfig(terms={"focal": 1.0}, focal_gamma=0.0, focal_alpha=None)
    assert build_loss(no_focus)(ZERO_LOGITS, TARGET).item() == pytest.approx(LN2)


def test_terms_are_summed_with_their_weights() -> None:
    logits = torch.tensor([math.log(3), -math.log(3)]).reshape(1, 1, 1, 2)  # p = .75, .25
    dice = 1 - (2 * 0.75 + 1) / (2 * 0.75 + 0.25 + 0.25 + 1)
    bce = -math.log(0.75)
    loss = build_loss(LossConfig(terms={"dice": 0.3, "bce": 0.2}, smooth=1.0))
    assert loss(logits, TARGET).item() == pytest.approx(0.3 * dice + 0.2 * bce, abs=1e-6)


def test_region_reduction_reaches_the_region_terms() -> None:
    logits = torch.tensor([[2.0, -1.0], [1.0, 0.0]]).reshape(2, 1, 1, 2)
    target = torch.tensor([[1.0, 0.0], [0.0, 0.0]]).reshape(2, 1, 1, 2)
    for term in ("dice", "tversky", "focal_tversky"):
        per_image = build_loss(LossConfig(terms={term: 1.0}, region_reduction="per_image"))
        pooled = build_loss(LossConfig(terms={term: 1.0}, region_reduction="batch"))
        assert per_image(logits, target).item() != pytest.approx(pooled(logits, target).item())


def test_tversky_keys_reach_the_tversky_terms() -> None:
    logits = torch.tensor([-1.0, 2.0]).reshape(1, 1, 1, 2)  # FN mass .73, FP mass .88
    for term in ("tversky", "focal_tversky"):
        default = build_loss(LossConfig(terms={term: 1.0}))
        swapped = build_loss(
            LossConfig(terms={term: 1.0}, tversky_fn_weight=0.3, tversky_fp_weight=0.7)
        )
        assert default(logits, TARGET).item() != pytest.approx(swapped(logits, TARGET).item())
    plain = build_loss(LossConfig(terms={"focal_tversky": 1.0}, focal_tversky_exponent=1.0))
    focal = build_loss(LossConfig(terms={"focal_tversky": 1.0}, focal_tversky_exponent=0.5))
    assert focal(logits, TARGET).item() == pytest.approx(plain(logits, TARGET).item() ** 0.5)


def test_zero_weight_terms_are_not_built() -> None:
    loss = build_loss(LossConfig(terms={"dice": 1.0, "focal": 0.0}))
    assert list(loss.terms) == ["dice"]


def test_deep_supervision_weights_are_normalised() -> None:
    loss = build_loss(LossConfig(terms={"bce": 1.0}), deep_supervision_weights=[1.0, 0.5])
    aux = torch.tensor([math.log(3), -math.log(3)]).reshape(1, 1, 1, 2)  # BCE −log .75
    expected = (2 / 3) * LN2 + (1 / 3) * -math.log(0.75)
    assert loss([ZERO_LOGITS, aux], TARGET).item() == pytest.approx(expected)
    assert loss([aux, aux], TARGET).item() == pytest.approx(-math.log(0.75))
    assert loss(ZERO_LOGITS, TARGET).item() == pytest.approx(LN2)  # eval: a single tensor
    with pytest.raises(ValueError, match="3 outputs for 2 weights"):
        loss([aux, aux, aux], TARGET)


def test_loss_is_float32_and_differentiable_for_half_precision_logits() -> None:
    logits = torch.zeros(1, 1, 1, 2, dtype=torch.bfloat16, requires_grad=True)
    value = build_loss(LossConfig())(logits, TARGET)
    value.backward()
    assert value.dtype == torch.float32
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_presence_loss_adds_the_weighted_bce_of_image_has_foreground() -> None:
    loss = build_loss(LossConfig(terms={"bce": 1.0}, presence_weight=0.5), presence=True)
    target = torch.zeros(2, 1, 4, 4)
    target[0, 0, 1, 1] = 1.0  # the first image has foreground, the second is empty
    mask_logits = torch.zeros(2, 1, 4, 4)  # pixel BCE: log 2 everywhere
    presence = torch.tensor([[2.0], [-1.0]])
    # BCE(2, 1) = log(1 + e^-2); BCE(-1, 0) = log(1 + e^-1)
    presence_bce = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0))) / 2
    expected = math.log(2.0) + 0.5 * presence_bce
    assert float(loss((mask_logits, presence), target)) == pytest.approx(expected, rel=1e-6)
    plain = build_loss(LossConfig(terms={"bce": 1.0}))
    assert float(plain(mask_logits, target)) == pytest.approx(math.log(2.0), rel=1e-6)
