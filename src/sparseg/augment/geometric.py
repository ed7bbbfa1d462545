"""Spatial transforms kornia lacks or parameterises differently, and the per-batch resize
(progressive resizing and multi-scale).

Each random transform is a kornia ``AugmentationBase2D`` so that ``AugmentationSequential`` gives it
per-sample probabilities, the global torch RNG and nearest-neighbour resampling for masks.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from kornia.augmentation import AugmentationBase2D
from kornia.constants import Resample
from kornia.filters import get_gaussian_kernel1d
from torch import Tensor, nn

from sparseg.config import MultiScaleConfig
from sparseg.data.dataset import resize_mask
from sparseg.data.preprocess import resize_image


# Written by hand: kornia 0.9 has no albumentations-style GridDistortion.
def grid_distortion(
    images: Tensor, steps_x: Tensor, steps_y: Tensor, mode: str = "bilinear"
) -> Tensor:
    """Warp ``images`` [N, C, H, W] by a separable piecewise-linear map, as albumentations'
    GridDistortion.

    Each axis of the output is cut into ``num_steps`` equal cells; output cell ``k`` samples a
    source cell whose width is proportional to ``steps[:, k]`` ([N, num_steps], 1 = undistorted).
    The widths are normalised to span the image, so the borders stay in place and nothing is padded.
    """
    source_x = _piecewise_axis(steps_x, images.shape[-1])
    source_y = _piecewise_axis(steps_y, images.shape[-2])
    grid_x, grid_y = torch.broadcast_tensors(source_x[:, None, :], source_y[:, :, None])
    grid = torch.stack([grid_x, grid_y], dim=-1)
    return F.grid_sample(images, grid, mode=mode, padding_mode="border", align_corners=True)


def _piecewise_axis(steps: Tensor, size: int) -> Tensor:
    """Normalised source coordinate in [-1, 1] of each of ``size`` output pixels: [N, size]."""
    cells = steps.shape[1]
    edges = torch.cat([torch.zeros_like(steps[:, :1]), steps.cumsum(dim=1)], dim=1)
    edges = edges / edges[:, -1:] * 2 - 1
    position = torch.linspace(0, cells, size, device=steps.device, dtype=steps.dtype)
    cell = position.floor().clamp(max=cells - 1).long()
    fraction = position - cell
    left, right = edges[:, cell], edges[:, cell + 1]
    return left + (right - left) * fraction


class _DenseWarp(AugmentationBase2D):
    """A per-sample warp described by its parameters; masks take the same warp, resampled with the
    mode kornia's container asks for (nearest)."""

    def __init__(self, p: float, **flags: Any) -> None:
        super().__init__(p=p, same_on_batch=False, p_batch=1.0, keepdim=False)
        self.flags = {**flags, "resample": Resample.BILINEAR}

    def warp(self, input: Tensor, params: dict[str, Tensor], mode: str) -> Tensor:
        raise NotImplementedError

    def apply_transform(
        self, input: Tensor, params: dict[str, Tensor], flags: dict[str, Any], transform: Any = None
    ) -> Tensor:
        return self.warp(input, params, flags["resample"].name.lower())

    def apply_non_transform_mask(
        self, input: Tensor, params: dict[str, Tensor], flags: dict[str, Any], transform: Any = None
    ) -> Tensor:
        return input

    def apply_transform_mask(
        self, input: Tensor, params: dict[str, Tensor], flags: dict[str, Any], transform: Any = None
    ) -> Tensor:
        return self.apply_transform(input, params, flags, transform)


class RandomGridDistortion(_DenseWarp):
    """Grid distortion with ``num_steps`` cells per axis, each scaled by U[1 - limit, 1 + limit]."""

    def __init__(self, num_steps: int = 5, distort_limit: float = 0.3, p: float = 0.5) -> None:
        super().__init__(p, num_steps=num_steps, distort_limit=distort_limit)

    def generate_parameters(self, shape: tuple[int, ...]) -> dict[str, Tensor]:
        def draw() -> Tensor:
            size = (shape[0], self.flags["num_steps"])
            unit = torch.rand(size, device=self.device, dtype=self.dtype)
            return 1 + self.flags["distort_limit"] * (2 * unit - 1)

        return {"steps_x": draw(), "steps_y": draw()}

    def warp(self, input: Tensor, params: dict[str, Tensor], mode: str) -> Tensor:
        steps_x, steps_y = params["steps_x"].to(input), params["steps_y"].to(input)
        return grid_distortion(input, steps_x, steps_y, mode=mode)


class PixelElasticTransform(_DenseWarp):
    """Elastic deformation with ``alpha`` and ``sigma`` in pixels, as albumentations defines them:
    displacement = alpha · gaussian_filter(U[-1, 1], sigma, truncate=4, mode="constant") pixels.

    kornia's RandomElasticTransform takes alpha in normalised coordinates (2/W per pixel) and blurs
    the field again for the mask (twice the cost); here the field is made once per batch, in pixels.
    """

    def __init__(self, alpha: float = 120.0, sigma: float = 6.0, p: float = 0.5) -> None:
        super().__init__(p, alpha=alpha, sigma=sigma)

    def generate_parameters(self, shape: tuple[int, ...]) -> dict[str, Tensor]:
        batch, _, height, width = shape
        noise = torch.rand(batch, 2, height, width, device=self.device, dtype=self.dtype) * 2 - 1
        rows = _gaussian_band(height, self.flags["sigma"], noise)
        columns = _gaussian_band(width, self.flags["sigma"], noise)
        field = rows @ noise @ columns.T
        pixels_to_grid = torch.tensor(
            [2 / width, 2 / height], device=field.device, dtype=field.dtype
        )
        displacement = field.permute(0, 2, 3, 1) * self.flags["alpha"] * pixels_to_grid
        return {"displacement": displacement}

    def warp(self, input: Tensor, params: dict[str, Tensor], mode: str) -> Tensor:
        identity = torch.eye(2, 3, device=input.device, dtype=input.dtype)[None]
        grid = F.affine_grid(identity, [1, *input.shape[1:]], align_corners=False)
        grid = grid + params["displacement"].to(input)
        return F.grid_sample(input, grid, mode=mode, padding_mode="reflection", align_corners=False)


# Written by hand: the same zero-border Gaussian filter as kornia's gaussian_blur2d, as a banded
# matrix product, because a CPU multiplies matrices an order of magnitude faster than it runs
# kornia's depthwise 49-tap convolution (the elastic transform's cost: benchmarks/augment_cost.py).
def _gaussian_band(size: int, sigma: float, like: Tensor) -> Tensor:
    """[size, size] matrix M with (M @ x) = x filtered along that axis by a Gaussian of ``sigma``
    pixels truncated at 4 sigma, zero beyond the border."""
    radius = math.ceil(4 * sigma)
    weights = get_gaussian_kernel1d(2 * radius + 1, sigma, device=like.device, dtype=like.dtype)[0]
    index = torch.arange(size, device=like.device)
    offset = index[None, :] - index[:, None] + radius
    inside = (offset >= 0) & (offset <= 2 * radius)
    return torch.where(inside, weights[offset.clamp(0, 2 * radius)], 0.0)


def random_scale_size(
    base_hw: tuple[int, int], config: MultiScaleConfig, generator: torch.Generator | None = None
) -> tuple[int, int]:
    """One random scale from ``config.scales`` applied to ``base_hw``, each side rounded to
    ``config.multiple_of`` (at least one multiple)."""
    low, high = sorted(config.scales)
    scale = low + (high - low) * torch.rand((), generator=generator).item()
    step = config.multiple_of
    height, width = (max(step, round(side * scale / step) * step) for side in base_hw)
    return height, width


def resize_batch(images: Tensor, masks: Tensor, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Resize a batch as the data set resizes one sample: images by
    :func:`~sparseg.data.preprocess.resize_image`, masks by
    :func:`~sparseg.data.dataset.resize_mask` (the image's antialiased bilinear kernel,
    re-thresholded at 0.5)."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images, masks
    # Every (sample, channel) plane is resized alike, so the batch goes through as channels.
    resized = resize_image(images.flatten(0, 1), size).unflatten(0, images.shape[:2])
    resized_masks = resize_mask(masks.flatten(0, 1).to(images.dtype), size)
    return resized, resized_masks.unflatten(0, masks.shape[:2]).to(masks.dtype)


ENCODER_STRIDE = 32


def scaled_size(base_hw: tuple[int, int], scale: float, multiple: int = 32) -> tuple[int, int]:
    """``base_hw`` times ``scale``, each side rounded to ``multiple`` and never below it."""
    height, width = (max(multiple, round(side * scale / multiple) * multiple) for side in base_hw)
    return height, width


class MultiScale(nn.Module):
    """The batch's one resize: to its size times ``scale`` (progressive resizing, rounded to
    the encoder stride), then, with ``config.enabled``, to a random scale of that (one per
    batch). Unchanged when neither applies."""

    def __init__(self, config: MultiScaleConfig) -> None:
        super().__init__()
        self.config = config

    def forward(self, images: Tensor, masks: Tensor, scale: float = 1.0) -> tuple[Tensor, Tensor]:
        size = (images.shape[-2], images.shape[-1])
        if scale != 1.0:
            size = scaled_size(size, scale, ENCODER_STRIDE)
        if self.config.enabled:
            size = random_scale_size(size, self.config)
        return resize_batch(images, masks, size)
