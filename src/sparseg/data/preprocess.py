"""What every model sees before its network, for numpy arrays and torch tensors alike:
normalise, resize, pad. Training, the PyTorch predictor and the ONNX predictor call these same
functions, so an image reaches an exported network exactly as it reached the trained one.

Each function takes a numpy array or a torch tensor and returns the same kind (MONAI's
``backend = [TORCH, NUMPY]`` idea). torch is never imported here: a tensor can only exist once
torch is loaded, so it is looked up in ``sys.modules``, and the ONNX path runs where PyTorch is
not installed.

Resizing is antialiased bilinear with half-pixel centres, the filter of PIL's ``BILINEAR`` and of
``torch.nn.functional.interpolate(mode="bilinear", antialias=True)``: tensors go through torch's
kernel, arrays through the same separable weights written out below; the two agree within
``RESIZE_TOLERANCE``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from sparseg.errors import SparsegError

Array = Any  # a numpy array or a torch tensor

NORMALIZATIONS = ("zscore", "minmax", "none")
RESIZE_TOLERANCE = 1e-5  # float32 rounding between torch's kernel and the numpy weights


def torch_module(array: Array) -> ModuleType | None:
    """The torch module when ``array`` is a tensor, else None (numpy)."""
    torch = sys.modules.get("torch")
    return torch if torch is not None and isinstance(array, torch.Tensor) else None


def as_kind(values: np.ndarray, reference: Array) -> Array:
    """``values`` as an array of ``reference``'s kind, dtype and device."""
    if torch_module(reference) is not None:
        return reference.new_tensor(values)
    return values.astype(reference.dtype, copy=False)


def normalize_image(image: Array, mode: str) -> Array:
    """Per-image normalisation of each channel on its own: zscore, minmax, or none (unit float
    as is). Each channel separately, as nnU-Net does, because MRI contrasts (FLAIR, T1, T2) come
    on unrelated intensity scales. A constant channel becomes all zeros under zscore and minmax.
    """
    if mode not in NORMALIZATIONS:
        raise SparsegError(
            f"data.normalize: unknown mode {mode!r} (allowed: {', '.join(NORMALIZATIONS)})"
        )
    if mode == "none":
        return image
    axes = (-2, -1)
    if torch_module(image) is not None:
        if mode == "zscore":
            mean = image.mean(dim=axes, keepdim=True)
            spread = image.std(dim=axes, correction=0, keepdim=True).clamp_min(1e-8)
            return (image - mean) / spread
        low = image.amin(dim=axes, keepdim=True)
        return (image - low) / (image.amax(dim=axes, keepdim=True) - low).clamp_min(1e-8)
    if mode == "zscore":
        mean = image.mean(axis=axes, keepdims=True)
        return (image - mean) / np.maximum(image.std(axis=axes, keepdims=True), 1e-8)
    low = image.min(axis=axes, keepdims=True)
    return (image - low) / np.maximum(image.max(axis=axes, keepdims=True) - low, 1e-8)


def bilinear_weights(source: int, target: int) -> np.ndarray:
    """``(target, source)`` float64 weights of antialiased bilinear resampling along one axis:
    a triangle around each output pixel's centre, widened by the scale when shrinking (so every
    input pixel counts), cut at the borders and normalised to sum 1 per output pixel."""
    scale = source / target
    centres = (np.arange(target) + 0.5) * scale
    offsets = np.arange(source) + 0.5 - centres[:, None]
    weights = np.maximum(1.0 - np.abs(offsets) / max(scale, 1.0), 0.0)
    return weights / weights.sum(axis=1, keepdims=True)


def resize_image(image: Array, size: Sequence[int]) -> Array:
    """(..., H, W) → (..., *size), antialiased bilinear (see the module's note); the image
    itself at its own size."""
    height, width = image.shape[-2:]
    if (height, width) == tuple(size):
        return image
    torch = torch_module(image)
    if torch is not None:
        planes = image.reshape(1, -1, height, width)
        resized = torch.nn.functional.interpolate(
            planes, size=tuple(size), mode="bilinear", align_corners=False, antialias=True
        )
        return resized.reshape(*image.shape[:-2], *size)
    rows = bilinear_weights(height, size[0]).astype(image.dtype)
    cols = bilinear_weights(width, size[1]).astype(image.dtype)
    return rows @ image @ cols.T


def centred_padding(
    shape: Sequence[int], size: Sequence[int]
) -> tuple[tuple[int, int], tuple[int, int], tuple[slice, slice]]:
    """Rows and columns to add (before, after) so ``shape`` (H, W) reaches at least ``size``,
    centred, and the ``(rows, cols)`` slices that crop an output back."""
    extra_rows, extra_cols = max(size[0] - shape[0], 0), max(size[1] - shape[1], 0)
    top, left = extra_rows // 2, extra_cols // 2
    crop = (slice(top, top + shape[0]), slice(left, left + shape[1]))
    return (top, extra_rows - top), (left, extra_cols - left), crop


def pad_to_size(images: Array, size: Sequence[int]) -> tuple[Array, tuple[slice, slice]]:
    """Pad ``(N, C, H, W)`` images, centred and by edge replication, to at least ``size``.

    Returns the padded images (the images themselves when they fit) and the ``(rows, cols)``
    slices that crop an output back: ``output[..., rows, cols]``.
    """
    (top, bottom), (left, right), crop = centred_padding(images.shape[-2:], size)
    if top == bottom == left == right == 0:
        return images, crop
    torch = torch_module(images)
    if torch is not None:
        padding = (left, right, top, bottom)
        return torch.nn.functional.pad(images, padding, mode="replicate"), crop
    return np.pad(images, ((0, 0), (0, 0), (top, bottom), (left, right)), mode="edge"), crop


def pad_to_multiple(images: Array, multiple: int = 32) -> tuple[Array, tuple[slice, slice]]:
    """Pad ``(N, C, H, W)`` images so both sides are multiples of ``multiple`` (an encoder's
    stride); see :func:`pad_to_size` for the returned crop."""
    height, width = images.shape[-2:]
    return pad_to_size(images, (height + (-height % multiple), width + (-width % multiple)))
