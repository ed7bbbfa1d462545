"""Reading 2D images and masks, whatever their format (the readers: :mod:`sparseg.data.readers`;
volumes and stacks: :mod:`sparseg.data.volumes`).

Every problem with a file (missing, empty, truncated, not an image, unreadable, a symlink loop,
NaN or infinite pixels) becomes one :class:`SparsegError` line that starts with the file's path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sparseg.data.readers import ImageInfo, read_with
from sparseg.data.readers.base import sample_channels
from sparseg.errors import SparsegError


def image_info(path: Path) -> ImageInfo:
    """Read only the header (Pillow's lazy open, tifffile's page tags, DICOM without pixels)."""
    path = Path(path)
    return read_with(path, lambda reader: reader.image_info(path))


def read_image(path: Path) -> np.ndarray:
    """Raw pixels as (H, W, C), C in {1, 3}, dtype uint8, uint16 or float32.

    Alpha is dropped, palette images are converted to RGB, 16-bit stays 16-bit.
    """
    return _read_pixels(Path(path), palette_as_indices=False)


def to_unit_float(image: np.ndarray) -> np.ndarray:
    """float32 in [0, 1]: integers divided by their dtype's maximum, floats min-max scaled."""
    if image.dtype == np.bool_:
        return image.astype(np.float32)
    if np.issubdtype(image.dtype, np.integer):
        return (image.astype(np.float32) / np.iinfo(image.dtype).max).astype(np.float32)
    image = image.astype(np.float32)
    low, high = float(image.min()), float(image.max())
    if high <= low:
        return np.zeros_like(image)
    return (image - low) / (high - low)


def read_mask(path: Path, label: int | None = None) -> np.ndarray:
    """Boolean (H, W) foreground.

    With ``label``: pixels equal to it. Without: a binary mask of any two values (the larger one
    is foreground); a mask of one value is empty when that value is 0, else all foreground.
    Palette masks are read as their indices (a label map), colour masks by their brightest
    channel. More than two values without ``label`` is an error suggesting ``--label``.
    """
    path = Path(path)
    values = _read_pixels(path, palette_as_indices=True)
    return foreground(path, values[..., 0] if values.shape[-1] == 1 else values.max(axis=-1), label)


def foreground(path: Path, values: np.ndarray, label: int | None) -> np.ndarray:
    """:func:`read_mask`'s rule on a whole label array (a 2D image or a 3D volume) of ``path``."""
    if label is not None:
        return values == label
    distinct = np.unique(values)
    if len(distinct) > 2:
        hint = (
            "save masks losslessly (PNG), JPEG blurs their edges"
            if path.suffix.lower() in (".jpg", ".jpeg")
            else "pass --label N (data.label) to choose the foreground label"
        )
        raise SparsegError(f"{path}: mask has {len(distinct)} distinct values (expected 2); {hint}")
    if len(distinct) == 1 and distinct[0] == 0:
        return np.zeros(values.shape, dtype=bool)
    return values == distinct[-1]


def native_dtype(array: np.ndarray) -> np.ndarray:
    """uint8 and uint16 stay; bool → 0/255 uint8; other integers → uint16 when they fit."""
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if array.dtype.kind == "u" and array.dtype.itemsize <= 2:
        return array.astype(array.dtype.newbyteorder("="), copy=False)
    if array.dtype.kind in "iu" and array.size and array.min() >= 0 and array.max() <= 65535:
        return array.astype(np.uint16)
    return array.astype(np.float32)


def finite(path: Path, array: np.ndarray) -> np.ndarray:
    """``array`` when every value is a number; NaN or infinite pixels or voxels (left by a
    registration or a division, say) are refused rather than guessed at."""
    if array.dtype.kind in "fc":
        bad = array.size - int(np.count_nonzero(np.isfinite(array)))
        if bad:
            raise SparsegError(
                f"{path}: {bad} NaN or infinite value(s); replace them (e.g. numpy.nan_to_num, "
                "fslmaths -nan) before use"
            )
    return array


def _read_pixels(path: Path, palette_as_indices: bool) -> np.ndarray:
    array = read_with(path, lambda reader: reader.read_image(path, palette_as_indices))
    return _as_channels_last(path, finite(path, native_dtype(array)))


def _as_channels_last(path: Path, array: np.ndarray) -> np.ndarray:
    if array.ndim == 2:
        return array[..., None]
    if array.ndim != 3:
        raise SparsegError(f"{path}: expected a 2D image, got an array of shape {array.shape}")
    channels = sample_channels(path, array.shape[-1])
    return np.ascontiguousarray(array[..., :channels])
