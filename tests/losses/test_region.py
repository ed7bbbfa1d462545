"""Dice and (focal) Tversky against values computed by hand on 2×1×2×2 tensors."""

from __future__ import annotations

import math

import pytest
import torch

from sparseg.losses.region import DiceLoss, TverskyLoss


def logit(probability: float) -> float:
    return math.log(probability / (1 - probability))


def batch_of_two() -> tuple[torch.Tensor, torch.Tensor]:
    """Image A: target [1,1,0,0], p [.8,.5,.2,.5] → TP 1.3, FP .7, FN .7.
    Image B: empty target, p = .2 everywhere → TP 0, FP .8, FN 0."""
    probabilities = [[0.8, 0.5, 0.2, 0.5], [0.2, 0.2, 0.2, 0.2]]
    logits = torch.tensor([[logit(p) for p in row] for row in probabilities]).reshape(2, 1, 2, 2)
    target = torch.tensor([[1.0, 1, 0, 0], [0, 0, 0, 0]]).reshape(2, 1, 2, 2)
    return logits, target


def test_dice_per_image_is_the_mean_of_image_losses() -> None:
    logits, target = batch_of_two()
    image_a = 1 - (2 * 1.3 + 1) / (2 * 1.3 + 0.7 + 0.7 + 1)  # 0.28
    image_b = 1 - 1 / (0.8 + 1)
    loss = DiceLoss(smooth=1.0, reduction="per_image")(logits, target)
    assert loss.item() == pytest.approx((image_a + image_b) / 2, abs=1e-5)


def test_dice_batch_pools_counts_over_the_batch() -> None:
    logits, target = batch_of_two()
    pooled = 1 - (2 * 1.3 + 1) / (2 * 1.3 + 1.5 + 0.7 + 1)
    loss = DiceLoss(smooth=1.0, reduction="batch")(logits, target)
    assert loss.item() == pytest.approx(pooled, abs=1e-5)


def test_dice_smooth_enters_the_formula() -> None:
    logits, target = batch_of_two()
    loss = DiceLoss(smooth=0.0, reduction="batch")(logits, target)
    assert loss.item() == pytest.approx(1 - 2.6 / (2.6 + 1.5 + 0.7), abs=1e-5)


def test_tversky_weights_false_negatives_and_false_positives_as_named() -> None:
    logits, target = batch_of_two()
    image_a = 1 - 2.3 / (1.3 + 0.7 * 0.7 + 0.3 * 0.7 + 1)
    image_b = 1 - 1 / (0.3 * 0.8 + 1)
    loss = TverskyLoss(fn_weight=0.7, fp_weight=0.3, smooth=1.0)(logits, target)
    assert loss.item() == pytest.approx((image_a + image_b) / 2, abs=1e-5)


def test_fn_weight_punishes_misses_more_than_false_alarms() -> None:
    target = torch.tensor([1.0, 1, 0, 0]).reshape(1, 1, 2, 2)
    misses = torch.tensor([-30.0, -30, -30, -30]).reshape(1, 1, 2, 2)  # FN 2, FP 0
    alarms = torch.tensor([30.0, 30, 30, 30]).reshape(1, 1, 2, 2)  # TP 2, FP 2
    loss = TverskyLoss(fn_weight=0.9, fp_weight=0.1, smooth=0.0)
    assert loss(misses, target).item() == pytest.approx(1.0, abs=1e-5)  # TI = 0 / 1.8
    assert loss(alarms, target).item() == pytest.approx(1 - 2 / 2.2, abs=1e-5)


def test_focal_tversky_exponent_convention_matches_abraham_and_khan() -> None:
    logits, target = batch_of_two()
    gamma = 4 / 3  # Abraham & Khan write (1 − TI) ** (1 / γ)
    image_a = (1 - 2.3 / 3.0) ** (1 / gamma)
    image_b = (1 - 1 / 1.24) ** (1 / gamma)
    loss = TverskyLoss(0.7, 0.3, smooth=1.0, exponent=0.75)(logits, target)
    assert loss.item() == pytest.approx((image_a + image_b) / 2, abs=1e-5)
    plain = TverskyLoss(0.7, 0.3, smooth=1.0, exponent=1.0)(logits, target)
    assert loss.item() > plain.item()  # 1 − TI < 1, so a power below 1 raises it


def test_empty_images_predicted_empty_cost_nothing() -> None:
    logits = torch.full((2, 1, 2, 2), -20.0)
    target = torch.zeros(2, 1, 2, 2)
    for loss in (DiceLoss(1.0), TverskyLoss(0.7, 0.3, 1.0, exponent=0.75)):
        assert loss(logits, target).item() < 1e-4


@pytest.mark.parametrize("reduction", ["per_image", "batch"])
def test_false_positives_on_an_all_empty_batch_give_loss_and_gradient(reduction: str) -> None:
    logits = torch.zeros(2, 1, 2, 2, requires_grad=True)  # p = .5: FP 2 per image, 4 pooled
    target = torch.zeros(2, 1, 2, 2)
    loss = DiceLoss(smooth=1.0, reduction=reduction)(logits, target)
    expected = 1 - 1 / (2 + 1) if reduction == "per_image" else 1 - 1 / (4 + 1)
    assert loss.item() == pytest.approx(expected, abs=1e-5)
    loss.backward()
    assert (logits.grad > 0).all()  # every false positive is pushed down


def test_focal_tversky_gradient_stays_finite_at_a_perfect_prediction() -> None:
    logits = torch.full((1, 1, 2, 2), -100.0, requires_grad=True)
    TverskyLoss(0.7, 0.3, 1.0, exponent=0.75)(logits, torch.zeros(1, 1, 2, 2)).backward()
    assert torch.isfinite(logits.grad).all()
