"""Segmentation losses: Dice, BCE(pos_weight), (focal) Tversky, focal BCE, weighted sums."""

from sparseg.losses.combined import (
    LOSS_REGISTRY,
    DeepSupervisionLoss,
    WeightedSumLoss,
    build_loss,
)
from sparseg.losses.region import DiceLoss, TverskyLoss

__all__ = [
    "LOSS_REGISTRY",
    "DeepSupervisionLoss",
    "DiceLoss",
    "TverskyLoss",
    "WeightedSumLoss",
    "build_loss",
]
