"""Batch augmentation on the training device (kornia), grid distortion, multi-scale, preview."""

from sparseg.augment.geometric import (
    MultiScale,
    grid_distortion,
    random_scale_size,
    resize_batch,
)
from sparseg.augment.pipeline import GEOMETRIC, INTENSITY, BatchAugmentation, build_augmentation
from sparseg.augment.preview import render_augment_preview

__all__ = [
    "GEOMETRIC",
    "INTENSITY",
    "BatchAugmentation",
    "MultiScale",
    "build_augmentation",
    "grid_distortion",
    "random_scale_size",
    "render_augment_preview",
    "resize_batch",
]
