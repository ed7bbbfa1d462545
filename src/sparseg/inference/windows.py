"""Sliding-window prediction with nnU-Net's Gaussian importance weighting, for numpy arrays and
torch tensors alike (no torch import here): the PyTorch predictor and the ONNX path share it.

Hand-written: MONAI's ``sliding_window_inference`` does this, but MONAI is not a dependency (6.8 s
import, a large install) and the whole job is the few lines below.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from sparseg.config import DataConfig, InferenceConfig
from sparseg.data.preprocess import Array, as_kind, pad_to_size, torch_module

SIGMA_FRACTION = 1 / 8  # Gaussian sigma as a fraction of the window side, as in nnU-Net


def uses_windows(data: DataConfig, inference: InferenceConfig) -> bool:
    """Whether a model sees native images through sliding windows rather than resized ones."""
    return inference.sliding_window or data.mode == "patch"


def window_starts(length: int, window: int, overlap: float) -> list[int]:
    """Window start offsets along one axis: nnU-Net's rule, the fewest windows that cover
    ``length`` with at least ``overlap`` of a window shared, spread evenly, the last one flush."""
    if length <= window:
        return [0]
    step = window * (1.0 - overlap)
    count = math.ceil((length - window) / step) + 1
    spacing = (length - window) / (count - 1)
    return [round(spacing * index) for index in range(count)]


def gaussian_weights(window: Sequence[int]) -> np.ndarray:
    """``(h, w)`` float32 weights peaking at 1 in the window's centre, sigma = side / 8 per axis.

    Window borders, where a network sees the least context, count least in the average.
    """
    axes = []
    for side in window:
        offsets = np.arange(side, dtype=np.float64) - (side - 1) / 2
        axes.append(np.exp(-0.5 * (offsets / (side * SIGMA_FRACTION)) ** 2))
    weights = np.outer(axes[0], axes[1])
    return (weights / weights.max()).astype(np.float32)


def sliding_window(
    predict: Callable[[Array], Array],
    image: Array,
    window: Sequence[int],
    overlap: float,
    batch_size: int = 1,
) -> Array:
    """Gaussian-weighted average of ``predict`` over windows of ``image`` ``(1, C, H, W)``
    overlapping by ``overlap``; returns ``(1, 1, H, W)`` of the image's kind.

    ``predict`` maps a batch of ``(B, C, h, w)`` windows to their ``(B, 1, h, w)``
    probabilities. An image smaller than the window is padded (edge replication) and the result
    cropped back.
    """
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must lie in [0, 1), got {overlap}")
    padded, (crop_rows, crop_cols) = pad_to_size(image, window)
    height, width = padded.shape[-2:]
    weights = as_kind(gaussian_weights(window), padded)
    weighted_sum = as_kind(np.zeros((1, 1, height, width), np.float32), padded)
    weight_total = as_kind(np.zeros((1, 1, height, width), np.float32), padded)
    torch = torch_module(padded)
    concatenate = np.concatenate if torch is None else torch.cat
    corners = [
        (top, left)
        for top in window_starts(height, window[0], overlap)
        for left in window_starts(width, window[1], overlap)
    ]
    for first in range(0, len(corners), batch_size):
        chunk = corners[first : first + batch_size]
        tiles = [padded[..., top : top + window[0], left : left + window[1]] for top, left in chunk]
        probabilities = predict(concatenate(tiles))
        for (top, left), tile_probabilities in zip(chunk, probabilities, strict=True):
            rows, cols = slice(top, top + window[0]), slice(left, left + window[1])
            weighted_sum[0, :, rows, cols] += tile_probabilities * weights
            weight_total[0, :, rows, cols] += weights
    return (weighted_sum / weight_total)[..., crop_rows, crop_cols]
