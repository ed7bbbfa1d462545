"""Aggregating per-image metrics: Dice (and IoU) in every convention, side by side.

The same predictions can score 0.51 or 0.09 depending on how empty images are counted, so every
convention is reported under its own name:

``dice_per_image_empty_is_one``
    Mean over all images; an image whose truth and prediction are both empty scores 1, an image
    with empty truth and a non-empty prediction scores 0 (Kaggle; MONAI ``ignore_empty=False``).
``dice_nonempty_truth``
    Mean over the images whose ground truth is non-empty; images with empty truth are left out
    whatever was predicted. This is what MONAI's ``DiceMetric(ignore_empty=True)`` (its default)
    computes: it sets every empty-truth image to NaN and averages the rest.
``dice_ignore_empty``
    Mean over all images except those whose truth *and* prediction are both empty; an empty truth
    with a non-empty prediction is kept and scores 0. This is nnU-Net v2's per-case mean
    (``evaluate_predictions.compute_metrics`` gives NaN when TP + FP + FN = 0, then ``nanmean``).
``dice_pooled``
    Global Dice over all pixels of all images: 2·ΣTP / (2·ΣTP + ΣFP + ΣFN).

The ``iou_*`` figures use the same four conventions with IoU = TP / (TP + FP + FN). A mean over an
empty set of images is ``nan`` (e.g. ``dice_nonempty_truth`` when every truth is empty).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from sparseg.errors import SparsegError
from sparseg.evaluation.bootstrap import Statistic, percentile_intervals
from sparseg.evaluation.summary import Bootstrap, ImageScores

CONVENTIONS: dict[str, str] = {
    "dice_per_image_empty_is_one": "mean over all images; empty truth & empty prediction = 1, "
    "empty truth & non-empty prediction = 0 (Kaggle)",
    "dice_nonempty_truth": "mean over images whose ground truth is non-empty only "
    "(MONAI ignore_empty=True)",
    "dice_ignore_empty": "mean over images, leaving out those where truth and prediction are "
    "both empty (nnU-Net)",
    "dice_pooled": "one Dice over all pixels of all images: 2ΣTP / (2ΣTP + ΣFP + ΣFN)",
}
CONFIDENCE = 0.95
_SUFFIXES = ("per_image_empty_is_one", "nonempty_truth", "ignore_empty", "pooled")


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _nan_mean(values: np.ndarray) -> np.ndarray:
    """Mean over the last axis ignoring nan; nan where nothing is left (without numpy's warning)."""
    defined = ~np.isnan(values)
    return _divide(np.where(defined, values, 0.0).sum(axis=-1), defined.sum(axis=-1))


def _column(per_image: Sequence[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([float(row[key]) for row in per_image])


def _mean_of(values: np.ndarray) -> Statistic:
    return lambda indices: _nan_mean(values[indices])


def _pooled(numerator: np.ndarray, denominator: np.ndarray) -> Statistic:
    return lambda indices: _divide(numerator[indices].sum(-1), denominator[indices].sum(-1))


def _overlap_statistics(
    prefix: str, tp: np.ndarray, fp: np.ndarray, fn: np.ndarray
) -> dict[str, Statistic]:
    """The four conventions for Dice (``prefix='dice'``) or IoU, as functions of resampled
    image indices."""
    weight = 2.0 if prefix == "dice" else 1.0
    per_image = _divide(weight * tp, weight * tp + fp + fn)  # nan only where truth & pred empty
    truth_empty = tp + fn == 0
    empty_is_one = np.where(np.isnan(per_image), 1.0, per_image)
    nonempty_truth = np.where(truth_empty, np.nan, per_image)
    values = (
        _mean_of(empty_is_one),
        _mean_of(nonempty_truth),
        _mean_of(per_image),
        _pooled(weight * tp, weight * tp + fp + fn),
    )
    return {f"{prefix}_{suffix}": value for suffix, value in zip(_SUFFIXES, values, strict=True)}


def _object_statistics(per_image: Sequence[dict[str, Any]]) -> dict[str, Statistic]:
    matched = _column(per_image, "object_tp")
    n_true = _column(per_image, "n_true_objects")
    n_pred = _column(per_image, "n_pred_objects")
    return {
        "object_precision": _pooled(matched, n_pred),
        "object_recall": _pooled(matched, n_true),
        # F1 = 2PR / (P + R) = 2·matched / (n_true + n_pred), pooled over all objects.
        "object_f1": _pooled(2.0 * matched, n_true + n_pred),
    }


NEARLY_BLANK_RECALL = 0.1


def blank_verdict(
    *, n_images: int, n_empty_truth: int, n_empty_pred: int, recall_pooled: float
) -> str | None:
    """``blank`` when a model marked nothing on any image although some have a target,
    ``nearly blank`` when it marked under :data:`NEARLY_BLANK_RECALL` of the target pixels
    (pooled recall), else None."""
    if not n_images or n_empty_truth >= n_images:
        return None
    if n_empty_pred == n_images:
        return "blank"
    if not math.isnan(recall_pooled) and recall_pooled < NEARLY_BLANK_RECALL:
        return "nearly blank"
    return None


def aggregate(
    per_image: Sequence[dict[str, Any]], bootstrap: int = 1000, seed: int = 0
) -> ImageScores:
    """Summarise rows of :func:`~sparseg.evaluation.metrics.image_metrics` over images; ``ci``
    holds the 95 % percentile-bootstrap interval over images of the four Dice conventions and
    ``object_f1`` (``nan`` when ``bootstrap`` is 0)."""
    if not per_image:
        raise SparsegError("nothing to score: no images")
    tp, fp, fn, tn = (_column(per_image, key) for key in ("tp", "fp", "fn", "tn"))
    truth_empty, pred_empty = tp + fn == 0, tp + fp == 0
    figures: dict[str, Any] = {
        "n_images": len(per_image),
        "n_empty_truth": int(truth_empty.sum()),
        "n_empty_pred": int(pred_empty.sum()),
        "n_empty_both": int((truth_empty & pred_empty).sum()),
    }
    statistics = _overlap_statistics("dice", tp, fp, fn)
    headline = list(statistics)
    statistics |= _overlap_statistics("iou", tp, fp, fn)
    all_images = np.arange(len(per_image))[None, :]
    figures |= {name: float(statistic(all_images)[0]) for name, statistic in statistics.items()}

    for name, numerator, denominator in (
        ("precision", tp, tp + fp),
        ("recall", tp, tp + fn),
        ("specificity", tn, tn + fp),
    ):
        figures[f"{name}_pooled"] = float(_divide(numerator.sum(), denominator.sum()))
        figures[f"{name}_per_image"] = float(_nan_mean(_divide(numerator, denominator)))

    for distance in ("hd95", "assd", "hd95_mm", "assd_mm"):
        if distance in per_image[0]:
            values = _column(per_image, distance)
            figures[f"{distance}_mean"] = float(_nan_mean(values))
            figures[f"{distance}_count"] = int((~np.isnan(values)).sum())

    if "object_tp" in per_image[0]:
        for key in ("n_true_objects", "n_pred_objects", "object_tp"):
            figures[key] = int(_column(per_image, key).sum())
        objects = _object_statistics(per_image)
        figures |= {name: float(statistic(all_images)[0]) for name, statistic in objects.items()}
        statistics["object_f1"] = objects["object_f1"]
        headline.append("object_f1")

    intervals = percentile_intervals(
        {name: statistics[name] for name in headline},
        n_items=len(per_image),
        resamples=bootstrap,
        seed=seed,
        confidence=CONFIDENCE,
    )
    blank = blank_verdict(
        n_images=figures["n_images"],
        n_empty_truth=figures["n_empty_truth"],
        n_empty_pred=figures["n_empty_pred"],
        recall_pooled=figures["recall_pooled"],
    )
    return ImageScores(
        **figures,
        blank=blank,
        ci={name: (float(low), float(high)) for name, (low, high) in intervals.items()},
        bootstrap=Bootstrap(resamples=bootstrap, seed=seed, confidence=CONFIDENCE),
    )
