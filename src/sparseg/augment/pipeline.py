"""The training-time augmentation, built from ``AugmentConfig`` and applied to whole batches.

Order: geometric transforms (image and mask together), intensity transforms (image only), then
the batch's one resize (progressive resizing's scale for this step, multi-scale around it).
Randomness comes from torch's global RNG, so seeding torch fixes the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kornia.augmentation as K
import torch
from kornia.constants import DataKey, Resample
from torch import Tensor, nn

from sparseg.augment.geometric import MultiScale, PixelElasticTransform, RandomGridDistortion
from sparseg.augment.intensity import RandomLowResolution
from sparseg.config import AugmentConfig, MultiScaleConfig


def _symmetric(limit: float) -> tuple[float, float]:
    return (1.0 - limit, 1.0 + limit)


# Rotation uses RandomAffine rather than RandomRotation: only the former can pad by reflection,
# which is what the field guide's albumentations transforms do (BORDER_REFLECT_101).
GEOMETRIC: dict[str, Callable[[Any], nn.Module]] = {
    "hflip": lambda t: K.RandomHorizontalFlip(p=t.p),
    "vflip": lambda t: K.RandomVerticalFlip(p=t.p),
    "rotate": lambda t: K.RandomAffine(degrees=t.limit, padding_mode="reflection", p=t.p),
    "shift_scale_rotate": lambda t: K.RandomAffine(
        degrees=t.rotate_limit,
        translate=(t.shift_limit, t.shift_limit),
        scale=_symmetric(t.scale_limit),
        padding_mode="reflection",
        p=t.p,
    ),
    "elastic": lambda t: PixelElasticTransform(alpha=t.alpha, sigma=t.sigma, p=t.p),
    "grid_distortion": lambda t: RandomGridDistortion(
        num_steps=t.num_steps, distort_limit=t.distort_limit, p=t.p
    ),
}
"""Config key → kornia module moving image and mask with the same parameters."""

INTENSITY: dict[str, Callable[[Any], nn.Module]] = {
    "gaussian_noise": lambda t: K.RandomGaussianNoise(std=t.std, p=t.p),
    "gaussian_blur": lambda t: K.RandomGaussianBlur(
        kernel_size=t.kernel, sigma=tuple(sorted(t.sigma)), p=t.p
    ),
    # albumentations samples the clip limit from [1, clip_limit].
    "clahe": lambda t: K.RandomClahe(
        clip_limit=(min(1.0, t.clip_limit), t.clip_limit), grid_size=(t.tiles, t.tiles), p=t.p
    ),
    # Contrast then brightness, as albumentations' alpha·x + beta; clamped like its float images.
    "brightness_contrast": lambda t: K.ColorJiggle(
        brightness=t.brightness_limit, contrast=t.contrast_limit, order=[1, 0], p=t.p
    ),
    # kornia's RandomContrast is a plain product (adjust_contrast): nnU-Net's multiplicative
    # brightness, left unclipped as nnU-Net leaves it.
    "brightness_multiplicative": lambda t: K.RandomContrast(
        contrast=_symmetric(t.limit), clip_output=False, p=t.p
    ),
    "gamma": lambda t: K.RandomGamma(gamma=tuple(sorted(t.gamma)), p=t.p),
    "low_resolution": lambda t: RandomLowResolution(zoom=t.zoom, p=t.p),
}
"""Config key → kornia module acting on images scaled per image to [0, 1]."""


class UnitRangeIntensity(nn.Module):
    """Apply intensity transforms on each image rescaled to [0, 1], then map the change back.

    Inputs are normalised (e.g. z-scored) while kornia's intensity transforms (CLAHE, noise std,
    brightness offsets) assume [0, 1]; adding back ``(changed - unit) · range`` leaves untouched
    samples bit-identical.
    """

    def __init__(self, transforms: list[nn.Module]) -> None:
        super().__init__()
        self.sequence = K.AugmentationSequential(*transforms)

    def forward(self, images: Tensor) -> Tensor:
        low = images.amin(dim=(1, 2, 3), keepdim=True)
        span = (images.amax(dim=(1, 2, 3), keepdim=True) - low).clamp_min(1e-8)
        unit = (images - low) / span
        return images + (self.sequence(unit) - unit) * span


class BatchAugmentation(nn.Module):
    """``aug(images [N, C, H, W], masks [N, 1, H, W] in {0, 1}) -> (images, masks)`` on any device.

    Geometric steps share their random parameters between image and mask (masks resampled by
    nearest neighbour, so they stay binary); intensity steps leave masks untouched. ``names`` lists
    the config keys of the transforms actually in the pipeline.
    """

    def __init__(
        self,
        geometric: dict[str, nn.Module],
        intensity: dict[str, nn.Module],
        multiscale: MultiScale | None = None,
    ) -> None:
        super().__init__()
        self.names = [*geometric, *intensity] + (["multiscale"] if multiscale else [])
        self.geometric = (
            K.AugmentationSequential(
                *geometric.values(),
                data_keys=["input", "mask"],
                # Masks: nearest neighbour, and the image's own align_corners (kornia's default None
                # would let elastic fall back to grid_sample's default with a warning).
                extra_args={DataKey.MASK: {"resample": Resample.NEAREST}},
            )
            if geometric
            else None
        )
        self.intensity = UnitRangeIntensity(list(intensity.values())) if intensity else None
        self.resize = multiscale or MultiScale(MultiScaleConfig(enabled=False))

    @torch.no_grad()
    def forward(self, images: Tensor, masks: Tensor, scale: float = 1.0) -> tuple[Tensor, Tensor]:
        """``scale``: progressive resizing's input-size factor for this step (1: full size)."""
        if images.ndim != 4 or masks.ndim != 4 or masks.shape[1] != 1:
            raise ValueError(
                f"expected images [N, C, H, W] and masks [N, 1, H, W], "
                f"got {tuple(images.shape)} and {tuple(masks.shape)}"
            )
        if self.geometric is not None:
            images, moved = self.geometric(images, masks.to(images.dtype))
            masks = moved.to(masks.dtype)
        if self.intensity is not None:
            images = self.intensity(images)
        return self.resize(images, masks, scale)


def build_augmentation(config: AugmentConfig) -> BatchAugmentation:
    """The batch augmentation described by ``config``; transforms with ``p == 0`` are left out and
    ``enabled=False`` gives the identity.

    Example:
        >>> aug = build_augmentation(AugmentConfig())
        >>> images, masks = aug(torch.randn(2, 1, 64, 64), torch.zeros(2, 1, 64, 64))
    """
    if not config.enabled:
        return BatchAugmentation({}, {})

    def chosen(registry: dict[str, Callable[[Any], nn.Module]]) -> dict[str, nn.Module]:
        settings = {name: getattr(config, name) for name in registry}
        return {name: registry[name](t) for name, t in settings.items() if t.p > 0}

    multiscale = MultiScale(config.multiscale) if config.multiscale.enabled else None
    return BatchAugmentation(chosen(GEOMETRIC), chosen(INTENSITY), multiscale)
