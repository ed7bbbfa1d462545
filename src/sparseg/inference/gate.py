"""Empty-image gate: call an image empty when the evidence for any target is weak.

Many images in small-structure data sets have no target; a few stray foreground pixels on such an
image cost a whole Dice point (0 instead of 1 under the empty-vs-empty = 1 convention). The
evidence: the largest pixel probability, the largest component's area and, with
``model.presence_head``, the head's probability that the image has foreground (the rule of the
2016 Kaggle ultrasound-nerve winners: empty if p < t or area < A).
"""

from __future__ import annotations

import numpy as np

from sparseg.config import EmptyGateConfig
from sparseg.errors import SparsegError
from sparseg.inference.postprocess import component_areas


def apply_empty_gate(
    mask: np.ndarray,
    probability: np.ndarray,
    cfg: EmptyGateConfig,
    presence: float | None = None,
) -> np.ndarray:
    """An all-False mask when ``cfg.enabled`` and any evidence is below its bound: the maximum
    of ``probability`` below ``cfg.min_max_probability``, the largest component of ``mask``
    (8-connected) below ``cfg.min_component_area`` pixels, or the presence head's ``presence``
    below ``cfg.min_presence_probability``; otherwise ``mask`` itself, unchanged."""
    if not cfg.enabled:
        return mask
    if cfg.min_presence_probability > 0 and presence is None:
        raise SparsegError(
            "inference.empty_gate.min_presence_probability: the model has no presence head "
            "(model.presence_head); set it to 0"
        )
    _, areas = component_areas(mask)
    largest_area = int(areas.max()) if areas.size else 0
    too_unsure = float(np.max(probability)) < cfg.min_max_probability
    absent = presence is not None and presence < cfg.min_presence_probability
    if too_unsure or absent or largest_area < cfg.min_component_area:
        return np.zeros_like(mask, dtype=bool)
    return mask
