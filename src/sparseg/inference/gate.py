"""Empty-image gate: call an image empty when the evidence for any target is weak.

Many images in small-structure data sets have no target; a few stray foreground pixels on such an
image cost a whole Dice point (0 instead of 1 under the empty-vs-empty = 1 convention).
"""

from __future__ import annotations

import numpy as np

from sparseg.config import EmptyGateConfig
from sparseg.inference.postprocess import component_areas


def apply_empty_gate(mask: np.ndarray, probability: np.ndarray, cfg: EmptyGateConfig) -> np.ndarray:
    """An all-False mask when ``cfg.enabled`` and either the maximum of ``probability`` is below
    ``cfg.min_max_probability`` or the largest component of ``mask`` (8-connected) has fewer than
    ``cfg.min_component_area`` pixels; otherwise ``mask`` itself, unchanged."""
    if not cfg.enabled:
        return mask
    _, areas = component_areas(mask)
    largest_area = int(areas.max()) if areas.size else 0
    too_unsure = float(np.max(probability)) < cfg.min_max_probability
    if too_unsure or largest_area < cfg.min_component_area:
        return np.zeros_like(mask, dtype=bool)
    return mask
