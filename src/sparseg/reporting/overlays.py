"""Best and worst cases of an evaluation, drawn as image / ground truth / prediction panels."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.exposure import rescale_intensity
from skimage.transform import resize

from sparseg.data.discovery import Item
from sparseg.data.io import read_mask, to_unit_float
from sparseg.data.items import read_item_image, read_item_mask
from sparseg.data.volumes import read_mask_slice
from sparseg.errors import SparsegError

N_CASES = 3
MAX_SIDE = 384  # panels are shrunk to this many pixels on their long side to keep the page light
DISPLAY_PERCENTILES = (0.5, 99.5)
ALPHA = 0.5
TRUTH_COLOUR = (0.0, 0.85, 0.3)
TP_COLOUR = (1.0, 0.85, 0.0)
FP_COLOUR = (1.0, 0.1, 0.35)
FN_COLOUR = (0.0, 0.55, 1.0)


@dataclass(frozen=True)
class Case:
    id: str
    dice: float


def read_case_dice(path: Path) -> list[Case]:
    """``(id, dice)`` of each row of ``metrics_per_image.csv`` whose Dice is defined.

    Images where truth and prediction are both empty have no Dice (a blank cell) and are left
    out: they are trivially right and show nothing.
    """
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        if not {"id", "dice"} <= set(reader.fieldnames or []):
            raise SparsegError(f"{path}: expected the columns id and dice")
        cases = []
        for row in reader:
            cell = (row["dice"] or "").strip()
            if not cell:
                continue
            try:
                dice = float(cell)
            except ValueError:
                raise SparsegError(
                    f"{path}: line {reader.line_num}, dice: {cell!r} is not a number"
                ) from None
            if math.isfinite(dice):
                cases.append(Case(row["id"], dice))
    return cases


def pick_cases(cases: list[Case], n: int = N_CASES) -> tuple[list[Case], list[Case]]:
    """The ``n`` best (highest Dice first) and ``n`` worst (lowest first), never the same image
    twice: with fewer than ``2n`` cases the best take the larger half. Ties go by id."""
    ranked = sorted(cases, key=lambda case: (-case.dice, case.id))
    n_best = min(n, math.ceil(len(ranked) / 2))
    n_worst = min(n, len(ranked) - n_best)
    worst = sorted(ranked[n_best:], key=lambda case: (case.dice, case.id))[:n_worst]
    return ranked[:n_best], worst


def display_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W, C) pixels of any dtype as float RGB in [0, 1], contrast stretched between the
    0.5th and 99.5th percentiles (16-bit and float scans otherwise look black)."""
    unit = to_unit_float(image)
    low, high = np.percentile(unit, DISPLAY_PERCENTILES)
    if high > low:
        unit = rescale_intensity(unit, in_range=(low, high), out_range=(0.0, 1.0))
    rgb = np.repeat(unit, 3, axis=-1) if unit.shape[-1] == 1 else unit[..., :3]
    return rgb.astype(np.float32)


def tint(rgb: np.ndarray, where: np.ndarray, colour: tuple[float, float, float]) -> np.ndarray:
    """Blend ``colour`` into ``rgb`` at ``where`` with :data:`ALPHA`.

    Written by hand because skimage's ``label2rgb`` gives colours by the order of the labels
    present, not by their value, so it cannot keep a fixed colour per meaning.
    """
    out = rgb.copy()
    out[where] = (1.0 - ALPHA) * out[where] + ALPHA * np.asarray(colour, dtype=np.float32)
    return out


def case_panels(image: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    """Three uint8 RGB panels: the image, the ground truth tinted green, and the prediction
    against the truth (correct yellow, false positive red, missed blue)."""
    if not (image.shape[:2] == truth.shape == pred.shape):
        raise ValueError(
            f"image {image.shape[:2]}, truth {truth.shape} and prediction {pred.shape} differ"
        )
    rgb = display_rgb(image)
    compared = tint(rgb, truth & pred, TP_COLOUR)
    compared = tint(compared, pred & ~truth, FP_COLOUR)
    compared = tint(compared, truth & ~pred, FN_COLOUR)
    panels = {"image": rgb, "ground truth": tint(rgb, truth, TRUTH_COLOUR), "prediction": compared}
    return {name: _to_uint8(_shrink(panel)) for name, panel in panels.items()}


def load_case_panels(item: Item, pred_path: Path, label: int | None) -> dict[str, np.ndarray]:
    """:func:`case_panels` for an item of the data set (an image, or a slice of a volume, shown
    by its first channel) and the evaluation's mask file (a PNG, or the case's volume)."""
    image = read_item_image(replace(item, channels=item.files[:1]))
    truth = read_item_mask(item, label)
    if item.is_slice:
        axis, index = int(item.slice_axis), int(item.slice_index)  # type: ignore[arg-type]
        pred = read_mask_slice(pred_path, axis, index, None)
    else:
        pred = read_mask(pred_path)
    if pred.shape != truth.shape:
        raise SparsegError(
            f"{pred_path}: prediction is {pred.shape} but the ground truth {item.mask} is "
            f"{truth.shape}"
        )
    return case_panels(image, truth, pred)


def png_bytes(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def _shrink(rgb: np.ndarray) -> np.ndarray:
    scale = MAX_SIDE / max(rgb.shape[:2])
    if scale >= 1.0:
        return rgb
    shape = (max(1, round(rgb.shape[0] * scale)), max(1, round(rgb.shape[1] * scale)), 3)
    return resize(rgb, shape, anti_aliasing=True)


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
