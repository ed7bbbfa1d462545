"""nnU-Net-style patch sampling: a share of patches centred on foreground, the rest random."""

from __future__ import annotations

import numpy as np
import torch
from torchvision.transforms.v2.functional import crop


def origin_range(image_size: int, patch_size: int) -> tuple[int, int]:
    """Lowest and highest top/left coordinate of a patch along one axis.

    A patch larger than the image may start above/left of it (negative origin, padded), so that
    the whole image still lies inside the patch.
    """
    return min(0, image_size - patch_size), max(0, image_size - patch_size)


def choose_patch_origin(
    mask: np.ndarray,
    patch_size: tuple[int, int],
    centre_on_foreground: bool,
    rng: np.random.Generator,
) -> tuple[int, int]:
    """Top-left (y, x) of a patch over ``mask`` (H, W).

    Centred on foreground: a foreground pixel is drawn uniformly and the patch centred on it,
    shifted to stay inside the image (the pixel stays in the patch). Otherwise, or when the mask
    has no foreground, the origin is uniform over all valid positions.
    """
    (y_low, y_high), (x_low, x_high) = (
        origin_range(mask.shape[0], patch_size[0]),
        origin_range(mask.shape[1], patch_size[1]),
    )
    if centre_on_foreground:
        foreground = np.flatnonzero(mask)
        if foreground.size:
            y, x = np.unravel_index(foreground[rng.integers(foreground.size)], mask.shape)
            return (
                int(np.clip(y - patch_size[0] // 2, y_low, y_high)),
                int(np.clip(x - patch_size[1] // 2, x_low, x_high)),
            )
    return int(rng.integers(y_low, y_high + 1)), int(rng.integers(x_low, x_high + 1))


def extract_patch(
    tensor: torch.Tensor, origin: tuple[int, int], patch_size: tuple[int, int]
) -> torch.Tensor:
    """(C, H, W) window at ``origin``; parts outside the image are filled with 0."""
    return crop(tensor, origin[0], origin[1], patch_size[0], patch_size[1])
