"""Sliding-window prediction with nnU-Net's Gaussian importance weighting, for patch-trained models.

Hand-written: MONAI's ``sliding_window_inference`` does this, but MONAI is not a dependency (6.8 s
import, a large install) and the whole job is the few lines below.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from sparseg.inference.tta import pad_to_size

SIGMA_FRACTION = 1 / 8  # Gaussian sigma as a fraction of the window side, as in nnU-Net


def gaussian_importance_map(window: tuple[int, int], device: torch.device | None = None) -> Tensor:
    """``(h, w)`` weights peaking at 1 in the window's centre, sigma = side / 8 per axis.

    Window borders, where a network sees the least context, count least in the average.
    """
    rows = torch.signal.windows.gaussian(window[0], std=window[0] * SIGMA_FRACTION, device=device)
    cols = torch.signal.windows.gaussian(window[1], std=window[1] * SIGMA_FRACTION, device=device)
    weights = torch.outer(rows, cols)
    return weights / weights.max()


def window_starts(length: int, window: int, overlap: float) -> list[int]:
    """Window start offsets along one axis: nnU-Net's rule, the fewest windows that cover
    ``length`` with at least ``overlap`` of a window shared, spread evenly, the last one flush."""
    if length <= window:
        return [0]
    step = window * (1.0 - overlap)
    count = math.ceil((length - window) / step) + 1
    spacing = (length - window) / (count - 1)
    return [round(spacing * index) for index in range(count)]


def sliding_window_probabilities(
    predict_fn: Callable[[Tensor], Tensor],
    image: Tensor,
    window: tuple[int, int],
    overlap: float,
    batch_size: int = 1,
) -> Tensor:
    """Stitch ``predict_fn`` probabilities over windows of ``image`` ``(1, C, H, W)``.

    ``predict_fn`` maps ``(B, C, h, w)`` windows to ``(B, 1, h, w)`` probabilities (e.g.
    ``functools.partial(predict_probabilities, model, tta=True)``). Overlapping predictions are
    averaged with Gaussian weights; an image smaller than the window is padded (edge replication)
    and cropped back. Returns ``(1, 1, H, W)``.
    """
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must lie in [0, 1), got {overlap}")
    padded, crop = pad_to_size(image, window)
    height, width = padded.shape[-2:]
    weights = gaussian_importance_map(window, device=image.device).to(image.dtype)
    weighted_sum = torch.zeros((1, 1, height, width), dtype=image.dtype, device=image.device)
    weight_total = torch.zeros_like(weighted_sum)
    corners = [
        (top, left)
        for top in window_starts(height, window[0], overlap)
        for left in window_starts(width, window[1], overlap)
    ]
    for first in range(0, len(corners), batch_size):
        chunk = corners[first : first + batch_size]
        tiles = torch.cat(
            [padded[..., top : top + window[0], left : left + window[1]] for top, left in chunk]
        )
        probabilities = predict_fn(tiles)
        for (top, left), tile_probabilities in zip(chunk, probabilities, strict=True):
            rows, cols = slice(top, top + window[0]), slice(left, left + window[1])
            weighted_sum[0, :, rows, cols] += tile_probabilities * weights
            weight_total[0, :, rows, cols] += weights
    return (weighted_sum / weight_total)[..., crop[0], crop[1]]
