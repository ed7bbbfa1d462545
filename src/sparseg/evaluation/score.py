"""Scoring predictions: in memory (``evaluate``, ``tune``) or a folder of mask files (``score``)."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sparseg.config import EvaluationConfig
from sparseg.data.io import IMAGE_SUFFIXES, read_mask
from sparseg.data.pairs import Pair, discover_pairs
from sparseg.errors import SparsegError
from sparseg.evaluation.aggregate import CONVENTIONS, aggregate
from sparseg.evaluation.metrics import image_metrics
from sparseg.io_utils import atomic_write, atomic_write_json, ensure_output_dir
from sparseg.run_layout import METRICS_JSON, PER_IMAGE_CSV

_SHOWN_IDS = 5


def _listing(ids: Iterable[str]) -> str:
    ids = sorted(ids)
    shown = ", ".join(ids[:_SHOWN_IDS])
    return shown + (f" ... (+{len(ids) - _SHOWN_IDS} more)" if len(ids) > _SHOWN_IDS else "")


def _size(shape: tuple[int, ...]) -> str:
    return "x".join(str(side) for side in shape) + (" (HxW)" if len(shape) == 2 else "")


def _check_ids(selected: set[str], predicted: set[str], known: set[str], where: str) -> None:
    """Every selected id needs a prediction; a prediction whose id is unknown is an error."""
    missing, extra = selected - predicted, predicted - known
    if missing:
        raise SparsegError(
            f"{where}: no prediction for {len(missing)} of {len(selected)} id(s): "
            f"{_listing(missing)}"
        )
    if extra:
        raise SparsegError(
            f"{where}: {len(extra)} prediction(s) with an id not in the ground truth: "
            f"{_listing(extra)}"
        )


def _row(
    image_id: str,
    pred: np.ndarray,
    truth: np.ndarray,
    where: str,
    config: EvaluationConfig,
    full: bool,
) -> dict[str, Any]:
    if pred.shape != truth.shape:
        raise SparsegError(
            f"{where}: prediction is {_size(pred.shape)} but the ground truth is "
            f"{_size(truth.shape)}"
        )
    metrics = image_metrics(pred, truth, config.object_iou, config.spacing_mm, full=full)
    return {"id": image_id, **metrics}


def score_arrays(
    preds: Mapping[str, np.ndarray],
    truths: Mapping[str, np.ndarray],
    config: EvaluationConfig | None = None,
    full: bool = True,
    bootstrap: int | None = None,
    seed: int = 0,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-image rows and their :func:`aggregate` for in-memory boolean masks keyed by id.

    ``full=False`` skips surface distances and objects (cheap, for tuning); ``bootstrap``
    overrides ``config.bootstrap`` (0 turns the intervals off).
    """
    config = config or EvaluationConfig()
    _check_ids(set(truths), set(preds), set(truths), "predictions")
    rows = [
        _row(image_id, np.asarray(preds[image_id]), np.asarray(truth), image_id, config, full)
        for image_id, truth in sorted(truths.items())
    ]
    resamples = config.bootstrap if bootstrap is None else bootstrap
    return rows, aggregate(rows, bootstrap=resamples, seed=seed)


def _prediction_files(pred_dir: Path) -> dict[str, Path]:
    """Mask files of the prediction folder by id; other files (JSON, CSV, hidden) are ignored."""
    if not pred_dir.is_dir():
        raise SparsegError(f"{pred_dir}: prediction folder not found")
    files: dict[str, Path] = {}
    for entry in sorted(pred_dir.iterdir()):
        if entry.name.startswith(".") or entry.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if entry.stem in files:
            raise SparsegError(
                f"{entry}: duplicate prediction id {entry.stem!r} (also {files[entry.stem].name})"
            )
        files[entry.stem] = entry
    return files


def _select(pairs: list[Pair], ids: list[str] | None, data_root: Path) -> list[Pair]:
    if ids is None:
        return pairs
    by_id = {pair.id: pair for pair in pairs}
    unknown = set(ids) - set(by_id)
    if unknown:
        raise SparsegError(
            f"{data_root}: {len(unknown)} selected id(s) not in the data set: {_listing(unknown)}"
        )
    return [by_id[image_id] for image_id in sorted(set(ids))]


def score_folder(
    pred_dir: Path,
    data_root: Path,
    ids: list[str] | None = None,
    out_dir: Path | None = None,
    config: EvaluationConfig | None = None,
    label: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Score the mask files ``<id>.<ext>`` of ``pred_dir`` against the data set at ``data_root``.

    Every selected id (all of the data set, or ``ids``) needs a prediction; a prediction whose
    id is not in the data set is an error, one in the data set but outside ``ids`` is ignored.
    Predictions are binary masks of any two values (0/255, 0/1); ``label`` picks the foreground
    of label-map ground truth. With ``out_dir``, writes ``metrics_per_image.csv`` and
    ``metrics.json`` (the returned summary, ``nan`` as ``null``) atomically.
    """
    config = config or EvaluationConfig()
    pred_dir, data_root = Path(pred_dir), Path(data_root)
    predictions = _prediction_files(pred_dir)
    all_pairs = discover_pairs(data_root)
    pairs = _select(all_pairs, ids, data_root)
    known = {pair.id for pair in all_pairs}
    _check_ids({pair.id for pair in pairs}, set(predictions), known, str(pred_dir))
    if out_dir is not None:
        out_dir = ensure_output_dir(Path(out_dir), data_root)

    rows = []
    for pair in pairs:
        truth = read_mask(pair.mask, label=label)
        pred_path = predictions[pair.id]
        pred = read_mask(pred_path)
        rows.append(_row(pair.id, pred, truth, str(pred_path), config, full=True))
    summary = {
        **aggregate(rows, bootstrap=config.bootstrap, seed=seed),
        "conventions": dict(CONVENTIONS),
        "pred_dir": str(pred_dir),
        "data_root": str(data_root),
        "object_iou": config.object_iou,
        "spacing_mm": config.spacing_mm,
        "label": label,
    }
    if out_dir is not None:
        write_per_image_csv(out_dir / PER_IMAGE_CSV, rows)
        atomic_write_json(out_dir / METRICS_JSON, json_safe(summary))
    return summary


def json_safe(value: Any) -> Any:
    """``nan``/``inf`` → ``None`` and numpy scalars → Python, recursively (strict JSON)."""
    if isinstance(value, Mapping):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_per_image_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """One row per image, columns as in the rows (``id`` first); undefined values are empty."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as stream:
            writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(
                {key: "" if item is None else item for key, item in json_safe(row).items()}
                for row in rows
            )

    atomic_write(path, write)
