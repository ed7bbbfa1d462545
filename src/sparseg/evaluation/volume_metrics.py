"""Per-volume metrics of volume data, beside the per-slice ones: what MS-lesion papers report.

- 3D Dice per volume (``nan`` when truth and prediction are both empty), their mean over
  volumes, and the pooled Dice of all voxels of all volumes.
- Lesion-wise detection on 26-connected 3D components (``scipy.ndimage.label``), matching rule
  *any overlap*: a true lesion is detected when at least one of its voxels is predicted
  (recall = detected / true lesions); a predicted component is a true positive when it touches
  any true lesion (precision = touching / predicted components); F1 = 2PR / (P + R), 0 when
  exactly one side has no components, ``nan`` when neither has.
- HD95 and ASSD in mm: surfaces are the masks minus their erosion by the 6-connected cross,
  distances from scipy's exact Euclidean distance transform with the voxel spacing (the 2D
  surface-distance rule of :mod:`sparseg.evaluation.metrics`, in 3D and in mm).
- Absolute volume difference in mL (voxel volume from the spacing).

Hand-written on scipy because MONAI/medpy are not dependencies and the rules are short.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from sparseg.evaluation.metrics import confusion_counts
from sparseg.evaluation.summary import VolumeScores

_FULL = ndimage.generate_binary_structure(3, 3)  # 26-connectivity
_CROSS = ndimage.generate_binary_structure(3, 1)
MM3_PER_ML = 1000.0
LESION_MATCHING = (
    "26-connected 3D components; a true lesion is detected when any of its voxels is predicted, "
    "a predicted component is a true positive when it touches any true lesion"
)


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator > 0 else float("nan")


def lesion_detection(pred: np.ndarray, truth: np.ndarray) -> dict[str, float | int]:
    """Counts and precision/recall/F1 of 26-connected lesions under the any-overlap rule."""
    truth_labels, n_true = ndimage.label(truth, structure=_FULL)
    pred_labels, n_pred = ndimage.label(pred, structure=_FULL)
    detected = len(np.unique(truth_labels[pred & (truth_labels > 0)]))
    touching = len(np.unique(pred_labels[truth & (pred_labels > 0)]))
    precision, recall = _ratio(touching, n_pred), _ratio(detected, n_true)
    if n_true == 0 and n_pred == 0:
        f1 = float("nan")
    elif n_true == 0 or n_pred == 0 or precision + recall == 0:
        f1 = 0.0
    else:
        f1 = 2 * precision * recall / (precision + recall)
    return {
        "n_lesions": int(n_true),
        "n_pred_lesions": int(n_pred),
        "lesions_detected": int(detected),
        "pred_lesions_true": int(touching),
        "lesion_precision": precision,
        "lesion_recall": recall,
        "lesion_f1": f1,
    }


def surface_distances_mm(
    pred: np.ndarray, truth: np.ndarray, spacing: tuple[float, ...]
) -> dict[str, float]:
    """HD95 and ASSD in mm between the two 3D surfaces; ``nan`` when either mask is empty."""
    if not pred.any() or not truth.any():
        return {"hd95_mm": float("nan"), "assd_mm": float("nan")}
    pred_surface = pred & ~ndimage.binary_erosion(pred, structure=_CROSS)
    truth_surface = truth & ~ndimage.binary_erosion(truth, structure=_CROSS)
    to_truth = ndimage.distance_transform_edt(~truth_surface, sampling=spacing)[pred_surface]
    to_pred = ndimage.distance_transform_edt(~pred_surface, sampling=spacing)[truth_surface]
    hd95 = max(np.percentile(to_truth, 95), np.percentile(to_pred, 95))
    return {"hd95_mm": float(hd95), "assd_mm": float(np.concatenate([to_truth, to_pred]).mean())}


def volume_metrics(
    pred: np.ndarray, truth: np.ndarray, spacing: tuple[float, float, float]
) -> dict[str, float | int]:
    """All per-volume metrics of a boolean 3D prediction against its boolean truth."""
    pred, truth = np.asarray(pred, dtype=bool), np.asarray(truth, dtype=bool)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from truth shape {truth.shape}")
    counts = confusion_counts(pred, truth)
    voxel_ml = float(np.prod(spacing)) / MM3_PER_ML
    truth_ml, pred_ml = counts["tp"] + counts["fn"], counts["tp"] + counts["fp"]
    return {
        "tp": counts["tp"],
        "fp": counts["fp"],
        "fn": counts["fn"],
        "dice_3d": _ratio(2 * counts["tp"], 2 * counts["tp"] + counts["fp"] + counts["fn"]),
        **lesion_detection(pred, truth),
        **surface_distances_mm(pred, truth, spacing),
        "truth_ml": truth_ml * voxel_ml,
        "pred_ml": pred_ml * voxel_ml,
        "abs_volume_diff_ml": abs(pred_ml - truth_ml) * voxel_ml,
    }


def aggregate_volumes(rows: list[dict]) -> VolumeScores:
    """Means over volumes (``nan`` rows skipped), pooled Dice, and lesion-wise figures pooled
    over all volumes' lesions; ``rows`` (of :func:`volume_metrics`, with their ``case``) are
    kept as the per-volume rows."""

    def mean(key: str) -> float:
        values = np.array([row[key] for row in rows], dtype=float)
        values = values[np.isfinite(values)]
        return float(values.mean()) if len(values) else float("nan")

    tp, fp, fn = (sum(int(row[key]) for row in rows) for key in ("tp", "fp", "fn"))
    lesions = sum(int(row["n_lesions"]) for row in rows)
    predicted = sum(int(row["n_pred_lesions"]) for row in rows)
    precision = _ratio(sum(int(row["pred_lesions_true"]) for row in rows), predicted)
    recall = _ratio(sum(int(row["lesions_detected"]) for row in rows), lesions)
    pooled_f1 = (
        2 * precision * recall / (precision + recall)
        if np.isfinite(precision) and np.isfinite(recall) and precision + recall > 0
        else float("nan")
    )
    return VolumeScores(
        n_volumes=len(rows),
        dice_3d_mean=mean("dice_3d"),
        dice_3d_pooled=_ratio(2 * tp, 2 * tp + fp + fn),
        lesion_f1_mean=mean("lesion_f1"),
        lesion_precision_pooled=precision,
        lesion_recall_pooled=recall,
        lesion_f1_pooled=pooled_f1,
        hd95_mm_mean=mean("hd95_mm"),
        assd_mm_mean=mean("assd_mm"),
        abs_volume_diff_ml_mean=mean("abs_volume_diff_ml"),
        n_lesions=lesions,
        n_pred_lesions=predicted,
        lesion_matching=LESION_MATCHING,
        per_volume=rows,
    )
