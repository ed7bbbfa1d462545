"""TIFF through tifffile: one page is a 2D image, several pages a stack of frames (a loop)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from sparseg.data.readers.base import ImageInfo, Reader, VolumeInfo, sample_channels
from sparseg.errors import SparsegError
from sparseg.io_utils import atomic_write


class TiffReader(Reader):
    name = "TIFF"
    suffixes = (".tif", ".tiff")
    loggers = ("tifffile",)

    def image_info(self, path: Path) -> ImageInfo:
        with tifffile.TiffFile(path) as tiff:
            page = tiff.pages.first
            channels = sample_channels(path, page.samplesperpixel)
            return ImageInfo(
                height=page.imagelength,
                width=page.imagewidth,
                channels=channels,
                bit_depth=page.bitspersample,
            )

    def read_image(self, path: Path, palette_as_indices: bool) -> np.ndarray:
        with tifffile.TiffFile(path) as tiff:
            page = tiff.pages.first
            array = page.asarray()
            if page.axes.startswith("S") and array.ndim == 3:  # planar configuration
                array = np.moveaxis(array, 0, -1)
        return array

    def volume_info(self, path: Path) -> VolumeInfo | None:
        with tifffile.TiffFile(path) as tiff:
            frames = len(tiff.pages)
            if frames < 2:
                return None
            page = tiff.pages.first
            return VolumeInfo(
                shape=(frames, int(page.imagelength), int(page.imagewidth)),
                spacing=(1.0, 1.0, 1.0),
                oriented=False,
                channels=sample_channels(path, page.samplesperpixel),
                bit_depth=int(page.bitspersample),
            )

    def read_volume(self, path: Path) -> np.ndarray:
        with tifffile.TiffFile(path) as tiff:
            if len(tiff.pages) < 2:
                raise SparsegError(f"{path}: a single page, not a stack")
            array = np.stack([page.asarray() for page in tiff.pages])
        if array.ndim == 4 and array.shape[1] in (3, 4) and array.shape[-1] not in (3, 4):
            array = np.moveaxis(array, 1, -1)  # planar configuration: samples before rows
        if array.ndim == 4 and sample_channels(path, array.shape[-1]) == 1:
            return array[..., 0]  # gray + alpha
        return array[..., :3] if array.ndim == 4 else array

    def write_volume(self, source: Path, volume: np.ndarray, out_path: Path) -> None:
        atomic_write(out_path, lambda tmp: tifffile.imwrite(tmp, volume, photometric="minisblack"))

    def output_suffix(self, source: Path, probability: bool) -> str:
        return ".tif"
