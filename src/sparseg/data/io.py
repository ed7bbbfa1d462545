"""Reading 2D images and masks: PNG/JPG/BMP via Pillow, TIFF via tifffile, DICOM via pydicom
(volumes and stacks: :mod:`sparseg.data.volumes`).

Every problem with a file (missing, empty, truncated, not an image, unreadable, a symlink loop)
becomes one :class:`SparsegError` line that starts with the file's path.
"""

from __future__ import annotations

import errno
import logging
import logging.handlers
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import pydicom
import tifffile
from PIL import Image, UnidentifiedImageError
from pydicom.errors import InvalidDicomError

from sparseg.errors import SparsegError, SparsegWarning

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm")
INPUT_SUFFIXES = (*IMAGE_SUFFIXES, ".nii", ".nii.gz")  # plus volumes (sparseg.data.volumes)
TIFF_SUFFIXES = (".tif", ".tiff")

# Pillow mode → (channels after read_image, bits per sample).
_PIL_MODES = {
    "1": (1, 1),
    "L": (1, 8),
    "LA": (1, 8),
    "P": (3, 8),
    "PA": (3, 8),
    "RGB": (3, 8),
    "RGBA": (3, 8),
    "RGBX": (3, 8),
    "CMYK": (3, 8),
    "YCbCr": (3, 8),
    "LAB": (3, 8),
    "HSV": (3, 8),
    "I;16": (1, 16),
    "I;16L": (1, 16),
    "I;16B": (1, 16),
    "I;16N": (1, 16),
    "I": (1, 32),
    "F": (1, 32),
}

T = TypeVar("T")
_DECODER_LOGGERS = ("tifffile", "pydicom", "PIL")


@dataclass(frozen=True)
class ImageInfo:
    """What a file's header says: size, channels as :func:`read_image` returns them, bit depth."""

    height: int
    width: int
    channels: int
    bit_depth: int


def file_suffix(path: Path) -> str:
    """The lower-case suffix, ``.nii.gz`` counted as one."""
    name = Path(path).name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else Path(name).suffix


def file_id(path: Path) -> str:
    """The file name without its :func:`file_suffix`: the id of an image, case or prediction."""
    name = Path(path).name
    return name[: len(name) - len(file_suffix(path))]


def image_info(path: Path) -> ImageInfo:
    """Read only the header (Pillow's lazy open, tifffile's page tags, DICOM without pixels)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".dcm":
        return guarded(path, lambda: _dicom_info(path))
    if suffix in TIFF_SUFFIXES:
        return guarded(path, lambda: _tiff_info(path))
    return guarded(path, lambda: _pil_info(path))


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


# ---------------------------------------------------------------- headers
def _pil_info(path: Path) -> ImageInfo:
    with Image.open(path) as image:
        channels, bits = _pil_mode(path, image.mode)
        width, height = image.size
    return ImageInfo(height=height, width=width, channels=channels, bit_depth=bits)


def _tiff_info(path: Path) -> ImageInfo:
    with tifffile.TiffFile(path) as tiff:
        page = tiff.pages.first
        height, width = page.imagelength, page.imagewidth
        samples, bits = page.samplesperpixel, page.bitspersample
    return ImageInfo(height=height, width=width, channels=_channels(path, samples), bit_depth=bits)


def _dicom_info(path: Path) -> ImageInfo:
    dataset = pydicom.dcmread(path, stop_before_pixels=True)
    _single_frame(path, dataset)
    return ImageInfo(
        height=int(dataset.Rows),
        width=int(dataset.Columns),
        channels=_channels(path, int(dataset.get("SamplesPerPixel", 1))),
        bit_depth=int(dataset.get("BitsStored", dataset.BitsAllocated)),
    )


def _pil_mode(path: Path, mode: str) -> tuple[int, int]:
    if mode not in _PIL_MODES:
        raise SparsegError(f"{path}: unsupported image mode {mode}")
    return _PIL_MODES[mode]


def _channels(path: Path, samples: int) -> int:
    """Channels as read_image returns them: gray(+alpha) → 1, RGB(+alpha) → 3."""
    if samples in (1, 2):
        return 1
    if samples in (3, 4):
        return 3
    raise SparsegError(f"{path}: {samples} channels per pixel (expected 1, 2, 3 or 4)")


def _single_frame(path: Path, dataset: pydicom.Dataset) -> None:
    if int(dataset.get("NumberOfFrames", 1) or 1) > 1:
        raise SparsegError(f"{path}: multi-frame DICOM is not supported (one 2D image per file)")


# ---------------------------------------------------------------- pixels
def _read_pixels(path: Path, palette_as_indices: bool) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix == ".dcm":
        array = guarded(path, lambda: _dicom_pixels(path))
    elif suffix in TIFF_SUFFIXES:
        array = guarded(path, lambda: _tiff_pixels(path))
    else:
        array = guarded(path, lambda: _pil_pixels(path, palette_as_indices))
    return _as_channels_last(path, native_dtype(array))


def _pil_pixels(path: Path, palette_as_indices: bool) -> np.ndarray:
    with Image.open(path) as image:
        _pil_mode(path, image.mode)
        image.load()
        keep = image.mode in ("1", "L", "LA", "RGB", "RGBA", "RGBX", "I", "F")
        keep = keep or image.mode.startswith("I;16")
        keep = keep or (palette_as_indices and image.mode in ("P", "PA"))
        if keep:
            return np.asarray(image)
        return np.asarray(image.convert("RGBA" if "transparency" in image.info else "RGB"))


def _tiff_pixels(path: Path) -> np.ndarray:
    with tifffile.TiffFile(path) as tiff:
        page = tiff.pages.first
        array = page.asarray()
        if page.axes.startswith("S") and array.ndim == 3:  # planar configuration: samples first
            array = np.moveaxis(array, 0, -1)
    return array


def _dicom_pixels(path: Path) -> np.ndarray:
    dataset = pydicom.dcmread(path)
    _single_frame(path, dataset)
    array = dataset.pixel_array
    if dataset.get("PhotometricInterpretation") == "MONOCHROME1":  # stored inverted: 0 = white
        if array.dtype.kind == "u":
            return (2 ** int(dataset.get("BitsStored", array.dtype.itemsize * 8)) - 1) - array
        return array.max() + array.min() - array.astype(np.float32)
    return array


def native_dtype(array: np.ndarray) -> np.ndarray:
    """uint8 and uint16 stay; bool → 0/255 uint8; other integers → uint16 when they fit."""
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if array.dtype.kind == "u" and array.dtype.itemsize <= 2:
        return array.astype(array.dtype.newbyteorder("="), copy=False)
    if array.dtype.kind in "iu" and array.size and array.min() >= 0 and array.max() <= 65535:
        return array.astype(np.uint16)
    return array.astype(np.float32)


def _as_channels_last(path: Path, array: np.ndarray) -> np.ndarray:
    if array.ndim == 2:
        return array[..., None]
    if array.ndim != 3:
        raise SparsegError(f"{path}: expected a 2D image, got an array of shape {array.shape}")
    channels = _channels(path, array.shape[-1])
    return np.ascontiguousarray(array[..., :channels])


def guarded(path: Path, read: Callable[[], T], warn: bool = True) -> T:
    """Run a reader; turn every failure into one line naming the file, and the decoders' own
    warnings and log lines (tifffile logs one per damaged tag: hundreds) into one warning
    (none with ``warn=False``: a probe whose file is read again)."""
    noise: list[str] = []
    try:
        if path.stat().st_size == 0:
            raise SparsegError(f"{path}: empty file (0 bytes)")
        with _decoder_noise(noise):
            result = read()
    except SparsegError:
        raise
    except FileNotFoundError:
        problem = "broken symbolic link" if path.is_symlink() else "file not found"
        raise SparsegError(f"{path}: {problem}") from None
    except PermissionError:
        raise SparsegError(f"{path}: permission denied") from None
    except (UnidentifiedImageError, InvalidDicomError):
        raise SparsegError(
            f"{path}: not a recognised {path.suffix or 'image'} image file"
        ) from None
    except IsADirectoryError:
        raise SparsegError(f"{path}: is a folder, not an image") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SparsegError(f"{path}: symbolic link loop") from None
        raise SparsegError(f"{path}: cannot read image ({_reason(exc)})") from None
    # Decoders raise arbitrary types (ValueError, SyntaxError, struct.error, ...) on corrupt
    # bytes; all of them mean "this file is not a readable image".
    except Exception as exc:
        raise SparsegError(f"{path}: cannot read image ({_reason(exc)})") from None
    if noise and warn:
        more = f" and {len(noise) - 1} more" if len(noise) > 1 else ""
        warnings.warn(
            f"{path}: read, but the decoder complained ({noise[0]}{more}); the file may be damaged",
            SparsegWarning,
            stacklevel=3,
        )
    return result


@contextmanager
def _decoder_noise(messages: list[str]) -> Iterator[None]:
    """Collect what Pillow, tifffile and pydicom warn or log while reading one file."""
    handler = logging.handlers.BufferingHandler(capacity=sys.maxsize)
    handler.setLevel(logging.WARNING)
    loggers = [logging.getLogger(name) for name in _DECODER_LOGGERS]
    propagate = [logger.propagate for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        for logger, before in zip(loggers, propagate, strict=True):
            logger.removeHandler(handler)
            logger.propagate = before
    messages.extend(_reason_text(record.getMessage()) for record in handler.buffer)
    messages.extend(_reason_text(str(warning.message)) for warning in caught)


def _reason_text(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 120 else text[:117] + "..."


def _reason(exc: BaseException) -> str:
    return _reason_text(str(exc)) or type(exc).__name__
