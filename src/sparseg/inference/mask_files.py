"""Prediction outputs on disk, shared by the PyTorch and the ONNX paths (no torch import here)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from sparseg.data.pairs import Pair, list_images
from sparseg.io_utils import atomic_write, ensure_output_dir

PROBABILITY_FOLDER = "probabilities"


def prediction_inputs(input_path: Path, out_dir: Path) -> tuple[list[Pair], Path]:
    """The images to predict, and the output folder (refused inside the input folder)."""
    pairs = list_images(input_path)
    source = Path(input_path) if Path(input_path).is_dir() else Path(input_path).parent
    return pairs, ensure_output_dir(out_dir, source)


def write_mask_png(path: Path, mask: np.ndarray) -> None:
    image = Image.fromarray(np.where(mask, 255, 0).astype(np.uint8))
    atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))


def write_probability_png(path: Path, probability: np.ndarray) -> None:
    """16-bit PNG: value / 65535 is the probability."""
    values = np.clip(np.rint(probability * 65535), 0, 65535).astype(np.uint16)
    image = Image.fromarray(values)
    atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))


def write_predictions(
    results: Iterable[tuple[Pair, np.ndarray, np.ndarray]], out_dir: Path, probabilities: bool
) -> list[str]:
    """``OUT/<id>.png`` masks (0/255) and, on request, ``OUT/probabilities/<id>.png``."""
    written = []
    for pair, probability, mask in results:
        write_mask_png(out_dir / f"{pair.id}.png", mask)
        if probabilities:
            write_probability_png(out_dir / PROBABILITY_FOLDER / f"{pair.id}.png", probability)
        written.append(pair.id)
    return written
