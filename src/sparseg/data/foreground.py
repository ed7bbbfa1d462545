"""Foreground statistics of training masks and the settings that follow from them: BCE's
``pos_weight`` (``loss.pos_weight: auto`` and ``inspect``'s proposal) and the logit heads'
initial bias (``model.output_bias: prior``)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from sparseg.data.discovery import Item
from sparseg.data.items import read_item_mask

POS_WEIGHT_RANGE = (1.0, 100.0)
# A share of exactly 0 or 1 has no finite logit; no real mask set is rarer than this.
PRIOR_RANGE = (1e-4, 1 - 1e-4)


@dataclass(frozen=True)
class ForegroundCounts:
    """Foreground pixels and images with foreground among ``pixels`` pixels of ``images``."""

    foreground_pixels: int
    pixels: int
    images_with_foreground: int
    images: int

    @property
    def pixel_share(self) -> float:
        return self.foreground_pixels / self.pixels if self.pixels else 0.0

    @property
    def image_share(self) -> float:
        return self.images_with_foreground / self.images if self.images else 0.0


def count_foreground(items: Iterable[Item], label: int | None) -> ForegroundCounts:
    """One pass over the masks of ``items`` (unlabelled items count as empty)."""
    foreground = pixels = with_foreground = images = 0
    for item in items:
        mask = read_item_mask(item, label)
        marked = int(mask.sum())
        foreground += marked
        pixels += mask.size
        with_foreground += marked > 0
        images += 1
    return ForegroundCounts(foreground, pixels, with_foreground, images)


def prior_logit(share: float) -> float:
    """``log(p / (1 - p))`` of ``share`` clipped to :data:`PRIOR_RANGE`: the bias at which a
    logit head starts out predicting the share (RetinaNet's classifier initialisation)."""
    p = min(max(share, PRIOR_RANGE[0]), PRIOR_RANGE[1])
    return math.log(p / (1 - p))


def pos_weight_from_counts(foreground: int, total: int) -> float | None:
    """Background:foreground pixel ratio clipped to ``POS_WEIGHT_RANGE`` and rounded to one
    decimal; ``None`` (unweighted BCE) when no pixel is foreground, as there is nothing to
    weigh up.

    Beyond ~100 the rare pixels dominate the gradient and flood the background with false
    positives; Dice covers the rest of the imbalance.
    """
    if foreground <= 0:
        return None
    ratio = (total - foreground) / foreground
    return round(min(max(ratio, POS_WEIGHT_RANGE[0]), POS_WEIGHT_RANGE[1]), 1)
