"""What every file format reader provides, and the headers they return.

A reader is one class per file format (nnU-Net v2's ``imageio`` and MONAI's ``ImageReader``
work the same way): it knows its suffixes, reads a 2D image's header and pixels, and, when the
format can hold one, a volume's header, voxels and how to write a volume like its input. It
raises :class:`SparsegError` only for what it alone knows (a 4D NIfTI, a multi-frame DICOM read
as one image); everything else a decoder raises is turned into one line naming the file by
:func:`sparseg.data.readers.registry.read_with`, which every call goes through.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from sparseg.errors import SparsegError


@dataclass(frozen=True)
class ImageInfo:
    """What a 2D file's header says: size, channels as ``read_image`` returns them, bit depth."""

    height: int
    width: int
    channels: int
    bit_depth: int


@dataclass(frozen=True)
class VolumeInfo:
    """A volume's voxel ``shape`` (stacks: frames, rows, columns), ``spacing`` in mm per axis,
    whether it is ``oriented`` (a volume in patient space, sliced along a chosen axis, rather
    than a stack of frames sliced as stored), ``channels`` per voxel (3 for colour frames) and
    the stored ``bit_depth``."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    oriented: bool
    channels: int = 1
    bit_depth: int = 32


def file_suffix(path: Path) -> str:
    """The lower-case suffix, ``.nii.gz`` counted as one."""
    name = Path(path).name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else Path(name).suffix


def file_id(path: Path) -> str:
    """The file name without its :func:`file_suffix`: the id of an image, case or prediction."""
    name = Path(path).name
    return name[: len(name) - len(file_suffix(path))]


def sample_channels(path: Path, samples: int) -> int:
    """Channels as ``read_image`` returns them: gray(+alpha) → 1, RGB(+alpha) → 3."""
    if samples in (1, 2):
        return 1
    if samples in (3, 4):
        return 3
    raise SparsegError(f"{path}: {samples} channels per pixel (expected 1, 2, 3 or 4)")


class Reader(ABC):
    """One file format. Subclasses set the class attributes and implement the 2D methods; a
    format that holds volumes or stacks overrides the volume methods too."""

    name: ClassVar[str]
    """Short name of the format, used in messages."""
    suffixes: ClassVar[tuple[str, ...]]
    """Lower-case file suffixes the registry routes to this reader (``.nii.gz`` is one)."""
    not_format: ClassVar[tuple[type[BaseException], ...]] = ()
    """The decoder's exceptions meaning "this file is not in my format"."""
    loggers: ClassVar[tuple[str, ...]] = ()
    """The decoder's logger names, whose warnings are gathered into one per file."""

    @abstractmethod
    def image_info(self, path: Path) -> ImageInfo:
        """The header of a 2D image, read without its pixels."""

    @abstractmethod
    def read_image(self, path: Path, palette_as_indices: bool) -> np.ndarray:
        """The stored pixels of a 2D image: (H, W) or (H, W, samples); palette images as their
        indices with ``palette_as_indices`` (a label map), else as colours."""

    def volume_info(self, path: Path) -> VolumeInfo | None:
        """The header of a volume or stack; None for a 2D image (the default: 2D formats)."""
        return None

    def read_volume(self, path: Path) -> np.ndarray:
        """The voxels, in the shape :meth:`volume_info` gives (colour stacks: a last axis of 3)."""
        raise SparsegError(f"{path}: a 2D {self.name} image, not a volume")

    def write_volume(self, source: Path, volume: np.ndarray, out_path: Path) -> None:
        """Write ``volume`` (uint8 mask or float32 probabilities) to ``out_path`` in this format,
        atomically (:func:`sparseg.io_utils.atomic_write`), taking what the format keeps
        (geometry, patient and study) from ``source``."""
        raise SparsegError(f"{out_path}: sparseg writes no volumes as {self.name} files")

    def output_suffix(self, source: Path, probability: bool) -> str:
        """The suffix a predicted volume of ``source`` is written with (float probabilities need
        a format that holds floats)."""
        raise SparsegError(f"{source}: a 2D {self.name} image has no volume output")
