"""Per-image metrics of a binary prediction against a binary ground truth.

Empty cases, per image (``nan`` marks "undefined"; the aggregation decides what it counts):

==========================  =====  =====  =========  ======  ===========  ============
truth / prediction          dice   iou    precision  recall  specificity  hd95 / assd
==========================  =====  =====  =========  ======  ===========  ============
empty / empty               nan    nan    nan        nan     1.0          nan
empty / non-empty           0.0    0.0    0.0        nan     < 1          nan
non-empty / empty           0.0    0.0    nan        0.0     1.0 or nan   nan
==========================  =====  =====  =========  ======  ===========  ============

Specificity is ``nan`` only when the truth covers the whole image (no negatives).

Surface distances follow MONAI's ``compute_hausdorff_distance(percentile=95)`` and
``compute_average_surface_distance(symmetric=True)``: the surface of a mask is the mask minus its
erosion by a 4-connected cross; HD95 is the larger of the two directed 95th percentiles of
surface-to-surface distances, ASSD the mean over both sets of distances together.

Objects are 8-connected components. A predicted component detects a true one when their IoU is at
least ``object_iou``; pairs are matched one-to-one, greedily by decreasing IoU.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.measure import label as label_components

_CROSS = ndimage.generate_binary_structure(2, 1)


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator > 0 else float("nan")


def confusion_counts(pred: np.ndarray, truth: np.ndarray) -> dict[str, int]:
    """Pixel counts tp, fp, fn, tn."""
    tp = int(np.count_nonzero(pred & truth))
    pred_pixels = int(np.count_nonzero(pred))
    truth_pixels = int(np.count_nonzero(truth))
    fp, fn = pred_pixels - tp, truth_pixels - tp
    return {"tp": tp, "fp": fp, "fn": fn, "tn": int(pred.size) - tp - fp - fn}


def overlap_metrics(tp: int, fp: int, fn: int, tn: int) -> dict[str, float]:
    """Dice, IoU, precision, recall, specificity from counts (``nan`` where undefined)."""
    return {
        "dice": _ratio(2 * tp, 2 * tp + fp + fn),
        "iou": _ratio(tp, tp + fp + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
    }


def _surface(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask, structure=_CROSS)


def surface_distances(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """HD95 and ASSD in pixels; ``nan`` when either mask is empty.

    Hand-written on scipy's exact distance transform: skimage offers only the maximum Hausdorff
    distance, and MONAI/medpy are not dependencies.
    """
    if not pred.any() or not truth.any():
        return {"hd95": float("nan"), "assd": float("nan")}
    pred_surface, truth_surface = _surface(pred), _surface(truth)
    pred_to_truth = ndimage.distance_transform_edt(~truth_surface)[pred_surface]
    truth_to_pred = ndimage.distance_transform_edt(~pred_surface)[truth_surface]
    hd95 = max(np.percentile(pred_to_truth, 95), np.percentile(truth_to_pred, 95))
    assd = np.concatenate([pred_to_truth, truth_to_pred]).mean()
    return {"hd95": float(hd95), "assd": float(assd)}


def object_matches(pred: np.ndarray, truth: np.ndarray, object_iou: float) -> dict[str, int]:
    """Counts of true and predicted 8-connected components and of one-to-one matches."""
    truth_labels, n_true = label_components(truth, connectivity=2, return_num=True)
    pred_labels, n_pred = label_components(pred, connectivity=2, return_num=True)
    matched = 0
    if n_true and n_pred:
        # Component-pair intersections from one joint histogram of the two label maps.
        joint = truth_labels.astype(np.int64) * (n_pred + 1) + pred_labels
        intersection = np.bincount(joint.ravel(), minlength=(n_true + 1) * (n_pred + 1))
        intersection = intersection.reshape(n_true + 1, n_pred + 1)[1:, 1:]
        truth_area = np.bincount(truth_labels.ravel(), minlength=n_true + 1)[1:]
        pred_area = np.bincount(pred_labels.ravel(), minlength=n_pred + 1)[1:]
        union = truth_area[:, None] + pred_area[None, :] - intersection
        iou = intersection / union
        truth_used, pred_used = set(), set()
        candidates = np.argwhere((iou >= object_iou) & (intersection > 0))
        order = np.argsort(-iou[candidates[:, 0], candidates[:, 1]], kind="stable")
        for t, p in candidates[order]:
            if t not in truth_used and p not in pred_used:
                truth_used.add(t)
                pred_used.add(p)
        matched = len(truth_used)
    return {"n_true_objects": int(n_true), "n_pred_objects": int(n_pred), "object_tp": matched}


def image_metrics(
    pred: np.ndarray,
    truth: np.ndarray,
    object_iou: float = 0.1,
    spacing: float | None = None,
    full: bool = True,
) -> dict[str, float | int]:
    """All metrics of one image: counts, overlap ratios and, with ``full``, surface distances
    (``hd95``/``assd`` in pixels, plus ``hd95_mm``/``assd_mm`` when ``spacing`` in mm is given) and
    object counts (``n_true_objects``, ``n_pred_objects``, ``object_tp``).

    ``full=False`` skips distances and objects: the cheap path used while tuning.

    >>> truth = np.zeros((5, 5), bool); truth[1:3, 1:3] = True
    >>> image_metrics(truth, truth)["dice"]
    1.0
    """
    pred, truth = np.asarray(pred, dtype=bool), np.asarray(truth, dtype=bool)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from truth shape {truth.shape}")
    counts = confusion_counts(pred, truth)
    row: dict[str, float | int] = {**counts, **overlap_metrics(**counts)}
    if full:
        distances = surface_distances(pred, truth)
        row.update(distances)
        if spacing is not None:
            row.update({f"{name}_mm": value * spacing for name, value in distances.items()})
        row.update(object_matches(pred, truth, object_iou))
    return row
