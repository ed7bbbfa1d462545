"""Volumes and frame stacks as cases of 2D slices, whatever their format (the readers:
:mod:`sparseg.data.readers`; today NIfTI, multi-frame DICOM and multi-page TIFF); one slice read
lazily, and a volume written back like its input.

The slice convention lives here and nowhere else. A slice of an oriented volume (NIfTI) along
axis ``a`` is the voxel
plane of the two other axes in order, turned 90° counter-clockwise (``np.rot90``): a volume
stored in RAS+ (MNI space, most converters) shows anterior (or superior) at the top and the
patient's left on the image's left, as in ``ms_lesjak_flair``'s hand-made axial PNGs. A stack's
slices are its frames as stored. :func:`assemble` applies the exact inverse, so slicing and
reassembly are bit-exact.

Decoded arrays stay in a small per-process LRU (``VOLUMES_KEPT`` files), so memory does not grow
with the number of volumes and reading a case's slices in order decodes each file once
(uncompressed ``.nii`` is memory-mapped by nibabel and costs nothing to "decode").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from sparseg.data.io import finite, foreground, native_dtype
from sparseg.data.readers import VolumeInfo, read_with, reader_for
from sparseg.errors import SparsegError

VOLUMES_KEPT = 6  # decoded files per process: a case's channels and its mask, plus one spare
KEEP_RULES = ("all", "nonzero")
_AXIS_LETTERS = "xyz"


@dataclass(frozen=True)
class Slicing:
    """How volumes become items: ``axis`` (None: the lowest-resolution axis, else the last;
    stacks are always cut into frames) and ``keep`` (all slices, or those whose first-channel
    image is not all zero; a float keeps the non-zero ones and, in training only, that share of
    the slices without foreground)."""

    axis: int | None = None
    keep: str | float = "nonzero"

    @classmethod
    def of(cls, data: object) -> Slicing:
        """From a :class:`~sparseg.config.schema.DataConfig` (its slice_axis and keep_slices)."""
        return cls(getattr(data, "slice_axis", None), getattr(data, "keep_slices", "nonzero"))

    def axis_for(self, info: VolumeInfo) -> int:
        if not info.oriented:
            return 0
        if self.axis is not None:
            return self.axis
        spacing = np.asarray(info.spacing)
        coarsest = np.flatnonzero(spacing >= spacing.max() * (1 - 1e-3))
        return int(coarsest[0]) if len(coarsest) == 1 else 2


def is_nifti(path: Path) -> bool:
    """Whether ``path`` is an oriented volume (NIfTI): sliced along a chosen axis and turned,
    its predicted masks written as label maps (0/1) rather than images to look at (0/255)."""
    info = volume_info(path)
    return info is not None and info.oriented


@lru_cache(maxsize=4096)
def volume_info(path: Path) -> VolumeInfo | None:
    """The header of a volume or stack (NIfTI, multi-frame DICOM, multi-page TIFF); None for a
    single 2D image (one frame or page), which :mod:`sparseg.data.io` reads."""
    path = Path(path)
    return read_with(path, lambda reader: reader.volume_info(path), warn=False)


def slice_id(case: str, info: VolumeInfo, axis: int, index: int) -> str:
    """``<case>_z042`` (NIfTI: the axis letter x/y/z), ``<case>_f007`` (a stack's frame)."""
    letter = _AXIS_LETTERS[axis] if info.oriented else "f"
    digits = max(3, len(str(info.shape[axis] - 1)))
    return f"{case}_{letter}{index:0{digits}d}"


def slice_size(info: VolumeInfo, axis: int) -> tuple[int, int]:
    """(H, W) of one slice along ``axis``."""
    other = [side for a, side in enumerate(info.shape) if a != axis]
    return (other[1], other[0]) if info.oriented else (other[0], other[1])


def read_slice(path: Path, axis: int, index: int) -> np.ndarray:
    """One slice as (H, W, C) pixels in :func:`sparseg.data.io.read_image`'s dtypes."""
    plane = volume_plane(read_volume(path), axis, index, is_nifti(path))
    return native_dtype(plane if plane.ndim == 3 else plane[..., None])


def read_mask_slice(path: Path, axis: int, index: int, label: int | None) -> np.ndarray:
    """One boolean (H, W) slice of a mask volume; the mask rule is applied to the whole volume."""
    return volume_plane(read_mask_volume(path, label), axis, index, is_nifti(path))


def nonzero_slices(path: Path, axis: int) -> list[int]:
    """Indices of the slices along ``axis`` with any non-zero voxel."""
    volume = read_volume(path)
    other = tuple(a for a in range(volume.ndim) if a != axis)
    return [int(i) for i in np.flatnonzero(np.any(volume != 0, axis=other))]


@lru_cache(maxsize=VOLUMES_KEPT)
def read_volume(path: Path) -> np.ndarray:
    """The whole decoded array (read-only, shared by the LRU): NIfTI (X, Y, Z), stacks
    (frames, H, W) or (frames, H, W, 3)."""
    path = Path(path)
    array = finite(path, read_with(path, lambda reader: reader.read_volume(path)))
    if array.ndim not in (3, 4) or (array.ndim == 4 and array.shape[-1] != 3):
        raise SparsegError(f"{path}: expected a volume, got an array of shape {array.shape}")
    array.flags.writeable = False
    return array


@lru_cache(maxsize=VOLUMES_KEPT)
def read_mask_volume(path: Path, label: int | None = None) -> np.ndarray:
    """A mask volume as booleans (``read_mask``'s rule over the whole volume, colour → max)."""
    values = read_volume(Path(path))
    if values.ndim == 4:
        values = values.max(axis=-1)
    mask = foreground(Path(path), values, label)
    mask.flags.writeable = False
    return mask


def assemble(slices: dict[int, np.ndarray], info: VolumeInfo, axis: int, dtype: type) -> np.ndarray:
    """The volume of ``info.shape`` from (H, W) slices by index (missing slices are 0): the
    exact inverse of :func:`read_slice`'s convention."""
    volume = np.zeros(info.shape, dtype=dtype)
    for index, plane in slices.items():
        where = [slice(None)] * 3
        where[axis] = index
        volume[tuple(where)] = np.rot90(plane, k=-1) if info.oriented else plane
    return volume


def write_like(source: Path, volume: np.ndarray, out_path: Path) -> None:
    """Write ``volume`` (uint8 mask or float32 probabilities) with the reader of ``out_path``'s
    suffix, taking from ``source`` what that format keeps: NIfTI its affine and header (data
    type and scaling set for ``volume``), a multi-frame DICOM its patient/study/geometry
    attributes; a multi-page TIFF keeps nothing."""
    reader_for(out_path).write_volume(Path(source), volume, Path(out_path))


def output_suffix(source: Path, probability: bool = False) -> str:
    """The file suffix a prediction of ``source`` is written with (probabilities: float TIFF
    for stacks, since DICOM holds no float frames)."""
    return reader_for(source).output_suffix(Path(source), probability)


def volume_plane(volume: np.ndarray, axis: int, index: int, nifti: bool) -> np.ndarray:
    """Slice ``index`` along ``axis`` of an array of a volume's shape, in the slice convention."""
    if not 0 <= index < volume.shape[axis]:
        raise SparsegError(f"slice {index} out of range (axis {axis} has {volume.shape[axis]})")
    plane = np.take(volume, index, axis=axis)
    return np.ascontiguousarray(np.rot90(plane) if nifti else plane)
