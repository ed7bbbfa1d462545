"""``sparseg evaluate``: predict a subset of the run's split and score it in every convention;
:func:`score_predictions` is the step that ``crossval`` shares."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sparseg.data.discovery import Item
from sparseg.data.items import read_item_mask
from sparseg.data.resolve import ItemSelection
from sparseg.data.splits import check_subset
from sparseg.data.volumes import is_nifti, volume_plane
from sparseg.errors import SparsegError
from sparseg.evaluation.score import score_arrays, score_volumes, write_scores
from sparseg.evaluation.summary import ImageScores, VolumeScores
from sparseg.inference.mask_files import PredictionWriter
from sparseg.inference.predictor import Predictor
from sparseg.io_utils import ensure_output_dir
from sparseg.run_layout import MASKS_DIR, RunPaths


def evaluate_runs(
    runs: list[Path],
    data_root: Path,
    *,
    split_file: Path | None = None,
    fold: int = 0,
    subset: str = "test",
    out_dir: Path | None = None,
) -> dict[str, Any]:
    """Predict the ``subset`` of the run's split and score it in every convention.

    Writes ``masks/``, ``metrics_per_image.csv`` and ``metrics.json`` into ``out_dir``
    (default ``RUN_DIR/eval_<subset>``). A fold or selection folder's split is its first fold's.
    """
    check_subset(subset)
    predictor = Predictor(runs)
    selection = ItemSelection.of_run(
        runs[0], data_root, predictor.config.data, split_file=split_file, fold=fold
    )
    items = selection.subset_items(subset)
    if not items:
        raise SparsegError(f"{runs[0]}: the {subset} split is empty; nothing to evaluate")
    out_dir = ensure_output_dir(out_dir or RunPaths(runs[0]).eval_dir(subset), Path(data_root))
    scored = score_predictions(predictor, items, out_dir)
    return scored.write(
        {
            "subset": subset,
            "runs": [str(r) for r in runs],
            "data_root": str(Path(data_root).resolve()),
        }
    )


@dataclass
class Scored:
    """Predictions scored by :func:`score_predictions`: the masks as written, the truths, the
    per-image rows, the scores of the slices and of the volumes, and where they go."""

    out_dir: Path
    masks: dict[str, np.ndarray]
    truths: dict[str, np.ndarray]
    rows: list[dict[str, Any]]
    scores: ImageScores
    volumes: VolumeScores | None

    def write(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """Write the per-image (and per-volume) CSV and ``metrics.json`` with ``context`` (what
        was scored); returns the ``metrics.json`` payload."""
        return write_scores(self.out_dir, self.rows, self.scores, self.volumes, context)


def score_predictions(predictor: Predictor, items: list[Item], out_dir: Path) -> Scored:
    """Predict ``items`` with ``predictor``'s inference, write their masks into
    ``out_dir/masks`` and score them in every convention (volumes: per volume in 3D as well)."""
    label = predictor.config.data.label
    selected = sorted(items, key=lambda item: (item.group, item.slice_index or 0))
    preds: dict[str, np.ndarray] = {}
    truths: dict[str, np.ndarray] = {}
    writer = PredictionWriter(out_dir / MASKS_DIR, inference=predictor.inference, keep_volumes=True)
    for item, probability, mask in predictor.predict_items(selected):
        preds[item.id], truths[item.id] = mask, read_item_mask(item, label)
        writer.add(item, probability, mask)
    writer.close()
    for item in selected:  # slices as written, after the 3D step
        if item.is_slice:
            nifti = is_nifti(item.image)
            volume = writer.volumes[item.group]
            preds[item.id] = volume_plane(volume, item.slice_axis, item.slice_index, nifti)  # type: ignore[arg-type]
    rows, scores = score_arrays(
        preds, truths, predictor.config.evaluation, full=True, seed=predictor.config.seed
    )
    volumes = score_volumes(selected, writer.volumes.__getitem__, label)
    return Scored(out_dir, preds, truths, rows, scores, volumes)
