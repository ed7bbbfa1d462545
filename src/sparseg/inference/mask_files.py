"""Prediction outputs on disk, shared by the PyTorch and the ONNX paths (no torch import here).

A 2D image gives ``<id>.png``; the slices of a volume or stack are put back together into one
file per case in the input's own format (:func:`sparseg.data.volumes.write_like`): NIfTI with the
input's affine and header, a multi-frame DICOM or multi-page TIFF for a loop, after
:func:`sparseg.inference.finish.finish_volume`. Slices that were not predicted
(``data.keep_slices``) are 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from sparseg.config import InferenceConfig
from sparseg.data.discovery import Item, list_images
from sparseg.data.volumes import Slicing, assemble, is_nifti, output_suffix, volume_info, write_like
from sparseg.errors import SparsegError
from sparseg.inference.finish import finish_volume
from sparseg.io_utils import atomic_write, ensure_output_dir

PROBABILITY_FOLDER = "probabilities"


def prediction_inputs(
    input_path: Path, out_dir: Path, slicing: Slicing | None = None
) -> tuple[list[Item], Path]:
    """The items to predict, a volume's slices together and in order, and the output folder
    (refused inside the input folder)."""
    items = list_images(input_path, slicing)
    items.sort(key=lambda item: (item.group, item.slice_index or 0))
    source = Path(input_path) if Path(input_path).is_dir() else Path(input_path).parent
    return items, ensure_output_dir(out_dir, source)


def prediction_file(out_dir: Path, item: Item) -> Path:
    """Where an item's predicted mask is written: ``<id>.png``, or its case's volume file."""
    if item.is_slice:
        return Path(out_dir) / f"{item.group}{output_suffix(item.image)}"
    return Path(out_dir) / f"{item.id}.png"


def write_mask_png(path: Path, mask: np.ndarray) -> None:
    image = Image.fromarray(np.where(mask, 255, 0).astype(np.uint8))
    atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))


def write_probability_png(path: Path, probability: np.ndarray) -> None:
    """16-bit PNG: value / 65535 is the probability."""
    values = np.clip(np.rint(probability * 65535), 0, 65535).astype(np.uint16)
    image = Image.fromarray(values)
    atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))


class PredictionWriter:
    """Writes each item's mask (and, on request, probability) as it comes: PNGs at once, the
    slices of a volume gathered and written when the next case starts (slices of one case
    arrive together), so only one volume is held at a time."""

    def __init__(
        self,
        out_dir: Path,
        probabilities: bool = False,
        inference: InferenceConfig | None = None,
        keep_volumes: bool = False,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.probabilities = probabilities
        self.inference = inference
        self.keep_volumes = keep_volumes
        self.volumes: dict[str, np.ndarray] = {}
        """The final boolean mask volume of each case written (with ``keep_volumes``)."""
        self.written: list[str] = []
        self._case: Item | None = None
        self._masks: dict[int, np.ndarray] = {}
        self._probabilities: dict[int, np.ndarray] = {}

    def add(self, item: Item, probability: np.ndarray, mask: np.ndarray) -> None:
        if not item.is_slice:
            self._flush()
            write_mask_png(prediction_file(self.out_dir, item), mask)
            if self.probabilities:
                write_probability_png(
                    self.out_dir / PROBABILITY_FOLDER / f"{item.id}.png", probability
                )
            self.written.append(item.id)
            return
        if self._case is not None and self._case.group != item.group:
            self._flush()
        if item.group in self.written:
            raise SparsegError(f"{item.image}: slices of case {item.group!r} arrived apart")
        self._case = item
        self._masks[int(item.slice_index)] = mask  # type: ignore[arg-type]
        if self.probabilities:
            self._probabilities[int(item.slice_index)] = probability  # type: ignore[arg-type]

    def close(self) -> list[str]:
        """Write the last volume; the ids (2D) and cases (volumes) written, in order."""
        self._flush()
        return self.written

    def _flush(self) -> None:
        item = self._case
        if item is None:
            return
        info = volume_info(item.image)
        axis = int(item.slice_axis)  # type: ignore[arg-type]
        final = finish_volume(assemble(self._masks, info, axis, bool), self.inference)
        if self.keep_volumes:
            self.volumes[item.group] = final
        # frames are images to look at, like the PNG masks; NIfTI masks are label maps
        mask = final.astype(np.uint8) * (1 if is_nifti(item.image) else 255)
        write_like(item.image, mask, prediction_file(self.out_dir, item))
        if self.probabilities:
            volume = assemble(self._probabilities, info, axis, np.float32)
            suffix = output_suffix(item.image, probability=True)
            write_like(
                item.image, volume, self.out_dir / PROBABILITY_FOLDER / f"{item.group}{suffix}"
            )
        self.written.append(item.group)
        self._case, self._masks, self._probabilities = None, {}, {}


def write_predictions(
    results: Iterable[tuple[Item, np.ndarray, np.ndarray]],
    out_dir: Path,
    probabilities: bool,
    inference: InferenceConfig | None = None,
) -> list[str]:
    """``OUT/<id>.png`` masks (0/255) or ``OUT/<case>.nii.gz`` (etc.) volumes and, on request,
    ``OUT/probabilities/`` (16-bit PNG: value / 65535; float32 NIfTI or TIFF for volumes, since
    NIfTI has no float16); volumes finished with ``inference``. Returns the ids and cases
    written."""
    writer = PredictionWriter(out_dir, probabilities, inference)
    for item, probability, mask in results:
        writer.add(item, probability, mask)
    return writer.close()
