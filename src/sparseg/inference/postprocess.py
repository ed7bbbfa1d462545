"""Morphological clean-up of a binary mask: small objects, closing, largest component, holes;
and of a reassembled volume: small 3D objects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import ndimage
from skimage import measure, morphology

from sparseg.config import PostprocessConfig

# Pixels touching at a corner belong to one object (8-connectivity in 2D), everywhere in inference.
CONNECTIVITY = 2


def component_areas(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label image (8-connected components, 0 = background) and the area of each label 1..n."""
    labels = measure.label(mask, connectivity=CONNECTIVITY)
    return labels, np.bincount(labels.ravel())[1:]


def remove_small_objects(mask: np.ndarray, min_object_size: int) -> np.ndarray:
    """Drop components with fewer than ``min_object_size`` pixels (that size itself is kept)."""
    # skimage 0.26's max_size removes objects of max_size pixels *or fewer*.
    return morphology.remove_small_objects(
        mask, max_size=min_object_size - 1, connectivity=CONNECTIVITY
    )


def remove_small_objects_3d(volume: np.ndarray, min_voxels: int) -> np.ndarray:
    """Drop 26-connected 3D components with fewer than ``min_voxels`` voxels (0 or 1: off)."""
    volume = np.asarray(volume, dtype=bool)
    if min_voxels <= 1:
        return volume.copy()
    return morphology.remove_small_objects(volume, max_size=min_voxels - 1, connectivity=3)


def close(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary closing with a disk; the outside of the image neither grows nor erodes objects."""
    return morphology.closing(mask, morphology.disk(radius), mode="ignore")


def keep_largest_component(mask: np.ndarray) -> np.ndarray:
    """Only the largest component (the first in raster order on a tie); empty stays empty."""
    labels, areas = component_areas(mask)
    if areas.size == 0:
        return mask.copy()
    return labels == int(np.argmax(areas)) + 1


PostprocessStep = Callable[[np.ndarray, Any], np.ndarray]

POSTPROCESS_STEPS: dict[str, PostprocessStep] = {
    "min_object_size": lambda mask, size: remove_small_objects(mask, size) if size > 1 else mask,
    "closing_radius": lambda mask, radius: close(mask, radius) if radius > 0 else mask,
    "keep_largest": lambda mask, on: keep_largest_component(mask) if on else mask,
    "fill_holes": lambda mask, on: ndimage.binary_fill_holes(mask) if on else mask,
}
"""``PostprocessConfig`` field → its step, given that field's value (the field's default
leaves the mask as it is); :func:`postprocess` applies them in this order."""


VOLUME_POSTPROCESS_STEPS: dict[str, PostprocessStep] = {
    "min_object_size_3d": remove_small_objects_3d,
}
"""The ``PostprocessConfig`` fields that act on a reassembled volume (after every 2D step)."""


def postprocess_volume(volume: np.ndarray, cfg: PostprocessConfig) -> np.ndarray:
    """Apply the volume steps switched on in ``cfg`` to a boolean 3D mask (a new array)."""
    result = np.asarray(volume, dtype=bool).copy()
    for field, step in VOLUME_POSTPROCESS_STEPS.items():
        result = step(result, getattr(cfg, field))
    return result


def postprocess(mask: np.ndarray, cfg: PostprocessConfig) -> np.ndarray:
    """Apply the steps switched on in ``cfg``, in the order of ``POSTPROCESS_STEPS``: remove
    objects smaller than ``min_object_size`` (0 or 1: off), closing with a disk of
    ``closing_radius`` (0: off), keep the largest component, fill holes. Returns a new boolean
    ``(H, W)`` mask."""
    result = np.asarray(mask, dtype=bool).copy()
    for field, step in POSTPROCESS_STEPS.items():
        result = step(result, getattr(cfg, field))
    return result
