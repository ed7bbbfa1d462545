"""Probability map → final mask, the one finishing step of every prediction path (no torch):
threshold (or dense CRF) → post-processing → empty-image gate; then, for volumes, the slices put
back together → :func:`finish_volume` (small 3D objects).

``Predictor`` (PyTorch), the ONNX predictor and ``tune`` all call :func:`finish_mask` (and the
volume writer :func:`finish_volume`), so a step added here reaches all three at once.
"""

from __future__ import annotations

import numpy as np

from sparseg.config import InferenceConfig
from sparseg.inference.crf import crf_refine
from sparseg.inference.gate import apply_empty_gate
from sparseg.inference.postprocess import postprocess, postprocess_volume


def finish_mask(
    probability: np.ndarray,
    gray: np.ndarray,
    cfg: InferenceConfig,
    presence: float | None = None,
) -> np.ndarray:
    """Boolean ``(H, W)`` mask from a foreground ``probability`` ``(H, W)``.

    ``gray`` is the unit-float image averaged over its channels ``(H, W)``: the CRF's reference
    image. ``cfg.crf.enabled`` replaces the threshold by the CRF's labelling. ``presence`` is
    the presence head's probability for the image (None without a head), for the gate.
    """
    return apply_empty_gate(
        ungated_mask(probability, gray, cfg), probability, cfg.empty_gate, presence
    )


def ungated_mask(probability: np.ndarray, gray: np.ndarray, cfg: InferenceConfig) -> np.ndarray:
    """:func:`finish_mask` before the empty-image gate: thresholded (or CRF) and post-processed.
    Public so that ``tune`` can try gate settings on one such mask instead of redoing the CRF."""
    if cfg.crf.enabled:
        mask = crf_refine(gray, probability, cfg.crf)
    else:
        mask = probability > cfg.threshold
    return postprocess(mask, cfg.postprocess)


def finish_volume(volume: np.ndarray, cfg: InferenceConfig | None) -> np.ndarray:
    """Boolean volume from the finished masks of its slices: 3D objects smaller than
    ``postprocess.min_object_size_3d`` voxels removed."""
    if cfg is None:
        return np.asarray(volume, dtype=bool)
    return postprocess_volume(volume, cfg.postprocess)
