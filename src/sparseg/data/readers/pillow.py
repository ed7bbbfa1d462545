"""PNG, JPEG and BMP through Pillow: 2D images only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from sparseg.data.readers.base import ImageInfo, Reader
from sparseg.errors import SparsegError

# Pillow mode → (channels after read_image, bits per sample).
_MODES = {
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
# Modes whose array numpy takes as is; the others are converted to RGB(A) first.
_AS_STORED = ("1", "L", "LA", "RGB", "RGBA", "RGBX", "I", "F", "I;16", "I;16L", "I;16B", "I;16N")


class PillowReader(Reader):
    name = "Pillow"
    suffixes = (".png", ".jpg", ".jpeg", ".bmp")
    not_format = (UnidentifiedImageError,)
    loggers = ("PIL",)

    def image_info(self, path: Path) -> ImageInfo:
        with Image.open(path) as image:
            channels, bits = _mode(path, image.mode)
            width, height = image.size
        return ImageInfo(height=height, width=width, channels=channels, bit_depth=bits)

    def read_image(self, path: Path, palette_as_indices: bool) -> np.ndarray:
        with Image.open(path) as image:
            _mode(path, image.mode)
            image.load()
            palette = image.mode in ("P", "PA")
            if image.mode in _AS_STORED or (palette and palette_as_indices):
                return np.asarray(image)
            return np.asarray(image.convert("RGBA" if "transparency" in image.info else "RGB"))


def _mode(path: Path, mode: str) -> tuple[int, int]:
    if mode not in _MODES:
        raise SparsegError(f"{path}: unsupported image mode {mode}")
    return _MODES[mode]
