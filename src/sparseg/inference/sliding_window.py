"""Sliding-window prediction of torch models (the stitching itself is :mod:`.windows`)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from sparseg.inference.tta import pad_to_size
from sparseg.inference.windows import gaussian_weights, stitch_windows


def gaussian_importance_map(window: tuple[int, int], device: torch.device | None = None) -> Tensor:
    """:func:`sparseg.inference.windows.gaussian_weights` as a tensor on ``device``."""
    return torch.from_numpy(gaussian_weights(window)).to(device)


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
    padded, crop = pad_to_size(image, window)
    weights = gaussian_importance_map(window, device=image.device).to(image.dtype)
    stitched = stitch_windows(
        lambda tiles: predict_fn(torch.cat(tiles)),
        padded,
        window,
        overlap,
        weights=weights,
        zeros_like=torch.zeros_like,
        batch_size=batch_size,
    )
    return stitched[..., crop[0], crop[1]]
