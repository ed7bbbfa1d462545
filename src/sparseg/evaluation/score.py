"""Scoring predictions: in memory (``evaluate``, ``tune``) or a folder of mask files (``score``)."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sparseg.config import EvaluationConfig
from sparseg.data.discovery import Item, discover_items
from sparseg.data.io import read_mask
from sparseg.data.items import read_item_mask
from sparseg.data.readers import INPUT_SUFFIXES, file_id, file_suffix
from sparseg.data.volumes import read_mask_slice, read_mask_volume, volume_info
from sparseg.errors import SparsegError
from sparseg.evaluation.aggregate import CONVENTIONS, aggregate
from sparseg.evaluation.metrics import image_metrics
from sparseg.evaluation.summary import ImageScores, VolumeScores
from sparseg.evaluation.volume_metrics import aggregate_volumes, volume_metrics
from sparseg.io_utils import atomic_write, atomic_write_json, ensure_output_dir
from sparseg.run_layout import METRICS_JSON, PER_IMAGE_CSV, PER_VOLUME_CSV

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
) -> tuple[list[dict[str, Any]], ImageScores]:
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


def score_volumes(
    items: Iterable[Item], prediction: Callable[[str], np.ndarray], label: int | None
) -> VolumeScores | None:
    """The volumes among ``items`` scored in 3D, with their per-volume rows (None when there
    are none); ``prediction(case)`` is the boolean predicted volume of a case."""
    cases: dict[str, Item] = {}
    for item in items:
        if item.is_slice and item.mask is not None:
            cases.setdefault(item.group, item)
    if not cases:
        return None
    rows = []
    for case, item in sorted(cases.items()):
        truth = read_mask_volume(item.mask, label)  # type: ignore[arg-type]
        pred = prediction(case)
        if pred.shape != truth.shape:
            raise SparsegError(
                f"{case}: predicted volume is {_size(pred.shape)} but the ground truth "
                f"{item.mask} is {_size(truth.shape)}"
            )
        info = volume_info(item.image)
        rows.append({"case": case, **volume_metrics(pred, truth, info.spacing)})  # type: ignore[union-attr]
    return aggregate_volumes(rows)


def scores_payload(
    scores: ImageScores, volumes: VolumeScores | None, context: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``metrics.json`` payload: the figures, ``volumes`` (volume data) and ``context``
    (what was scored)."""
    payload = scores.to_json()
    if volumes is not None:
        payload["volumes"] = volumes.to_json()
    return {**payload, **context}


def write_scores(
    out_dir: Path,
    rows: list[dict[str, Any]],
    scores: ImageScores,
    volumes: VolumeScores | None,
    context: Mapping[str, Any],
) -> dict[str, Any]:
    """Write ``metrics_per_image.csv``, ``metrics_per_volume.csv`` (volume data) and
    ``metrics.json`` (:func:`scores_payload`, ``nan`` as ``null``; returned) into ``out_dir``."""
    payload = json_safe(scores_payload(scores, volumes, context))
    write_per_image_csv(out_dir / PER_IMAGE_CSV, rows)
    if volumes is not None:
        write_per_image_csv(out_dir / PER_VOLUME_CSV, volumes.per_volume)
    atomic_write_json(out_dir / METRICS_JSON, payload)
    return payload


def _prediction_files(pred_dir: Path) -> dict[str, Path]:
    """Mask files of the prediction folder by id (a volume's by case); other files (JSON, CSV,
    hidden) are ignored."""
    if not pred_dir.is_dir():
        raise SparsegError(f"{pred_dir}: prediction folder not found")
    files: dict[str, Path] = {}
    for entry in sorted(pred_dir.iterdir()):
        if entry.name.startswith(".") or file_suffix(entry) not in INPUT_SUFFIXES:
            continue
        entry_id = file_id(entry)
        if entry_id in files:
            raise SparsegError(
                f"{entry}: duplicate prediction id {entry_id!r} (also {files[entry_id].name})"
            )
        files[entry_id] = entry
    return files


def _select(items: list[Item], ids: list[str] | None, data_root: Path) -> list[Item]:
    if ids is None:
        return items
    by_id = {item.id: item for item in items}
    unknown = set(ids) - set(by_id)
    if unknown:
        raise SparsegError(
            f"{data_root}: {len(unknown)} selected id(s) not in the data set: {_listing(unknown)}"
        )
    return [by_id[image_id] for image_id in sorted(set(ids))]


def _predicted_items(
    items: list[Item], predicted: set[str], pred_dir: Path, present_only: bool
) -> list[Item]:
    """``items`` when each has a prediction; with ``present_only``, those that have one."""
    selected = {item.group for item in items}
    present = selected & predicted
    if present_only and not present:
        raise SparsegError(
            f"{pred_dir}: none of the {len(selected)} selected id(s) has a prediction here"
        )
    if not present_only and present != selected:
        missing = selected - present
        raise SparsegError(
            f"{pred_dir}: no prediction for {len(missing)} of {len(selected)} id(s): "
            f"{_listing(missing)}; --present-only scores the {len(present)} present"
        )
    return [item for item in items if item.group in present]


def score_folder(
    pred_dir: Path,
    data_root: Path,
    ids: list[str] | None = None,
    out_dir: Path | None = None,
    config: EvaluationConfig | None = None,
    label: int | None = None,
    seed: int = 0,
    present_only: bool = False,
) -> dict[str, Any]:
    """Score the mask files ``<id>.<ext>`` of ``pred_dir`` against the data set at ``data_root``
    (volume data: one ``<case>.nii.gz`` etc. per volume, scored per slice and per volume).

    Every selected id (all of the data set, or ``ids``) needs a prediction, unless
    ``present_only``: then exactly the selected ids that have one are scored (as nnU-Net's
    folder evaluation does). A prediction whose id is not in the data set is an error, one in
    the data set but outside ``ids`` is ignored.
    Predictions are binary masks of any two values (0/255, 0/1); ``label`` picks the foreground
    of label-map ground truth. With ``out_dir``, writes ``metrics_per_image.csv`` and
    ``metrics.json`` (the returned summary, ``nan`` as ``null``) atomically.
    """
    config = config or EvaluationConfig()
    pred_dir, data_root = Path(pred_dir), Path(data_root)
    predictions = _prediction_files(pred_dir)
    all_items = discover_items(data_root)
    items = _select(all_items, ids, data_root)
    known = {item.group for item in all_items}
    items = _predicted_items(items, set(predictions), pred_dir, present_only)
    _check_ids({item.group for item in items}, set(predictions), known, str(pred_dir))
    if out_dir is not None:
        out_dir = ensure_output_dir(Path(out_dir), data_root)

    rows = []
    for item in items:
        truth = read_item_mask(item, label=label)
        pred_path = predictions[item.group]
        pred = _predicted_item(item, pred_path)
        rows.append(_row(item.id, pred, truth, str(pred_path), config, full=True))
    scores = aggregate(rows, bootstrap=config.bootstrap, seed=seed)
    volumes = score_volumes(items, lambda case: read_mask_volume(predictions[case]), label)
    context = {
        "conventions": dict(CONVENTIONS),
        "pred_dir": str(pred_dir),
        "data_root": str(data_root),
        "object_iou": config.object_iou,
        "spacing_mm": config.spacing_mm,
        "label": label,
        "present_only": present_only,
    }
    if out_dir is not None:
        write_scores(out_dir, rows, scores, volumes, context)
    return scores_payload(scores, volumes, context)


def _predicted_item(item: Item, pred_path: Path) -> np.ndarray:
    """The prediction of one item: its mask file, or its slice of the case's predicted volume."""
    if not item.is_slice:
        return read_mask(pred_path)
    predicted, info = volume_info(pred_path), volume_info(item.image)
    if predicted is None or info is None or predicted.shape != info.shape:
        shape = "a 2D image" if predicted is None else _size(predicted.shape)
        raise SparsegError(
            f"{pred_path}: predicted volume is {shape} but {item.image.name} is "
            f"{_size(info.shape) if info else '2D'}"
        )
    return read_mask_slice(pred_path, int(item.slice_axis), int(item.slice_index), None)  # type: ignore[arg-type]


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
