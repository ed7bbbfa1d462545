"""File formats as reader classes in one registry (:mod:`.registry`): Pillow for PNG/JPEG/BMP,
tifffile for TIFF pages and stacks, pydicom for DICOM frames and loops, nibabel for NIfTI.
:mod:`sparseg.data.io` (2D images and masks) and :mod:`sparseg.data.volumes` (volumes, stacks
and the slice convention) are the functions the rest of the package calls."""

from sparseg.data.readers.base import ImageInfo, Reader, VolumeInfo, file_id, file_suffix
from sparseg.data.readers.registry import INPUT_SUFFIXES, READERS, read_with, reader_for

__all__ = [
    "INPUT_SUFFIXES",
    "READERS",
    "ImageInfo",
    "Reader",
    "VolumeInfo",
    "file_id",
    "file_suffix",
    "read_with",
    "reader_for",
]
