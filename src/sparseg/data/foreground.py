"""The one rule for BCE's ``pos_weight`` from mask statistics, used by ``inspect``'s proposed
config and by training with ``loss.pos_weight: auto`` (torch-free)."""

from __future__ import annotations

POS_WEIGHT_RANGE = (1.0, 100.0)


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
