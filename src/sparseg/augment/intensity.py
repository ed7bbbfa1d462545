"""Image-only transforms kornia lacks.

Each is a kornia ``AugmentationBase2D``, so ``AugmentationSequential`` draws per-sample
probabilities from torch's global RNG as for kornia's own transforms.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from kornia.augmentation import IntensityAugmentationBase2D
from torch import Tensor


# Written by hand: kornia 0.9 has no low-resolution simulation (batchgenerators'
# SimulateLowResolutionTransform, which nnU-Net uses).
class RandomLowResolution(IntensityAugmentationBase2D):
    """Shrink each chosen image to a factor in ``zoom`` of its size by nearest neighbour and
    enlarge it back bicubically: the detail a lower-resolution scanner would not have seen."""

    def __init__(self, zoom: tuple[float, float] = (0.5, 1.0), p: float = 0.25) -> None:
        super().__init__(p=p, same_on_batch=False, keepdim=False)
        self.zoom = (min(zoom), max(zoom))

    def generate_parameters(self, shape: tuple[int, ...]) -> dict[str, Tensor]:
        low, high = self.zoom
        return {"zoom": low + (high - low) * torch.rand(shape[0])}

    def apply_transform(
        self,
        input: Tensor,
        params: dict[str, Tensor],
        flags: dict[str, Any],
        transform: Tensor | None = None,
    ) -> Tensor:
        height, width = input.shape[-2:]
        out = []
        for image, zoom in zip(input, params["zoom"].tolist(), strict=True):
            small = (max(1, round(height * zoom)), max(1, round(width * zoom)))
            shrunk = F.interpolate(image[None], size=small, mode="nearest")
            out.append(
                F.interpolate(shrunk, size=(height, width), mode="bicubic", align_corners=False)
            )
        return torch.cat(out) if out else input
