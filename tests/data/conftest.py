"""Real image files in tmp_path for the data-layer tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image


def save_image(path: Path, array: np.ndarray) -> Path:
    """Write ``array`` with tifffile (.tif/.tiff) or Pillow (anything else)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".tif", ".tiff"):
        tifffile.imwrite(path, array)
    else:
        Image.fromarray(array).save(path)
    return path


def disk_mask(size: tuple[int, int], centre: tuple[int, int], radius: int) -> np.ndarray:
    rows, cols = np.ogrid[: size[0], : size[1]]
    inside = (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius**2
    return np.where(inside, 255, 0).astype(np.uint8)


@pytest.fixture
def write_image() -> Callable[[Path, np.ndarray], Path]:
    return save_image


@pytest.fixture
def make_dataset(tmp_path: Path) -> Callable[..., Path]:
    """``make_dataset(ids, size=(32, 32), seed=0)`` → a data set root with images/ and masks/.

    Each image is random 8-bit gray; each mask a 0/255 disk of radius 3 at a seeded position.
    """

    def build(ids: list[str], size: tuple[int, int] = (32, 32), seed: int = 0) -> Path:
        root = tmp_path / "dataset"
        rng = np.random.default_rng(seed)
        for image_id in ids:
            pixels = rng.integers(0, 256, size=size, dtype=np.uint8)
            save_image(root / "images" / f"{image_id}.png", pixels)
            centre = (int(rng.integers(4, size[0] - 4)), int(rng.integers(4, size[1] - 4)))
            save_image(root / "masks" / f"{image_id}.png", disk_mask(size, centre, 3))
        return root

    return build
