"""NIfTI-1 and NIfTI-2 through nibabel: always a volume (a 2D NIfTI is one slice deep)."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError
from nibabel.spatialimages import HeaderDataError

from sparseg.data.readers.base import ImageInfo, Reader, VolumeInfo, file_suffix
from sparseg.errors import SparsegError
from sparseg.io_utils import atomic_write


class NiftiReader(Reader):
    name = "NIfTI"
    suffixes = (".nii", ".nii.gz")
    loggers = ("nibabel",)

    def image_info(self, path: Path) -> ImageInfo:
        raise SparsegError(f"{path}: a NIfTI volume, read as slices, not as one 2D image")

    def read_image(self, path: Path, palette_as_indices: bool) -> np.ndarray:
        raise SparsegError(f"{path}: a NIfTI volume, read as slices, not as one 2D image")

    def volume_info(self, path: Path) -> VolumeInfo:
        image = _load(path)
        zooms = tuple(float(z) for z in image.header.get_zooms()[:3])
        return VolumeInfo(
            shape=_shape(path, image.shape),
            spacing=(*zooms, 1.0, 1.0)[:3],  # type: ignore[arg-type]
            oriented=True,
            bit_depth=8 * image.get_data_dtype().itemsize,
        )

    def read_volume(self, path: Path) -> np.ndarray:
        image = _load(path)
        shape = _shape(path, image.shape)
        proxy = image.dataobj
        scaled = getattr(proxy, "slope", 1.0) != 1.0 or getattr(proxy, "inter", 0.0) != 0.0
        try:
            array = image.get_fdata(dtype=np.float32) if scaled else np.asanyarray(proxy)
        except (EOFError, ValueError, OSError) as exc:
            raise SparsegError(f"{path}: truncated or damaged NIfTI ({_first_line(exc)})") from None
        return array.reshape(shape)

    def write_volume(self, source: Path, volume: np.ndarray, out_path: Path) -> None:
        image = nib.load(source)
        header = image.header.copy()
        header.set_data_dtype(volume.dtype)
        header.set_slope_inter(1.0, 0.0)
        payload = type(image)(volume, image.affine, header).to_bytes()
        if file_suffix(out_path) == ".nii.gz":
            payload = gzip.compress(payload, compresslevel=6, mtime=0)
        atomic_write(out_path, lambda tmp: tmp.write_bytes(payload))

    def output_suffix(self, source: Path, probability: bool) -> str:
        return file_suffix(source)


def _load(path: Path) -> nib.Nifti1Image | nib.Nifti2Image:
    try:
        image = nib.load(path)
    except gzip.BadGzipFile:
        raise SparsegError(
            f"{path}: not a NIfTI file (not gzip-compressed, yet named .gz)"
        ) from None
    except ImageFileError:
        raise SparsegError(f"{path}: not a NIfTI file (no NIfTI-1 or NIfTI-2 header)") from None
    except (HeaderDataError, EOFError, ValueError) as exc:
        raise SparsegError(f"{path}: not a NIfTI file ({_first_line(exc)})") from None
    if not isinstance(image, nib.Nifti1Image | nib.Nifti2Image):
        raise SparsegError(f"{path}: not a NIfTI file (nibabel reads it as {type(image).__name__})")
    return image


def _shape(path: Path, shape: tuple[int, ...]) -> tuple[int, int, int]:
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) != 3:
        raise SparsegError(
            f"{path}: {len(shape)}D NIfTI of shape {'x'.join(map(str, shape))}; sparseg reads 3D "
            "volumes, one contrast per file (split it into <case>_0000, <case>_0001, ...)"
        )
    return (int(shape[0]), int(shape[1]), int(shape[2]))


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
