"""The rows of the metrics and tuning tables, once: the console (rich, :mod:`.tables`) and the
HTML report (:mod:`.sections`) only lay them out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sparseg.evaluation.aggregate import CONVENTIONS
from sparseg.reporting.markup import number
from sparseg.run_layout import HEADLINE_METRIC as HEADLINE

OTHER_METRICS: dict[str, tuple[str, int]] = {
    "iou_pooled": ("one IoU over all pixels: ΣTP / (ΣTP + ΣFP + ΣFN)", 3),
    "precision_pooled": ("ΣTP / (ΣTP + ΣFP) over all pixels", 3),
    "recall_pooled": ("ΣTP / (ΣTP + ΣFN) over all pixels", 3),
    "hd95_mean": (
        "95th-percentile surface distance in pixels, mean over the {images} where both masks "
        "are non-empty",
        2,
    ),
    "hd95_mm_mean": ("the same in millimetres", 2),
    "object_f1": (
        "objects (8-connected) matched one-to-one {iou_rule}, pooled over all objects",
        3,
    ),
}
"""Figures shown after the Dice conventions: name → (what it counts, decimals)."""

VOLUME_METRICS: dict[str, tuple[str, int]] = {
    "dice_3d_mean": ("3D Dice per volume, mean over volumes (both empty: left out)", 3),
    "dice_3d_pooled": ("3D Dice pooled: one Dice over all voxels of all volumes", 3),
    "lesion_f1_mean": ("lesion-wise F1 per volume, mean over volumes", 3),
    "lesion_f1_pooled": ("lesion-wise F1 over all volumes' lesions (26-connected, any overlap)", 3),
    "lesion_precision_pooled": ("predicted lesions touching a true one / predicted lesions", 3),
    "lesion_recall_pooled": ("true lesions with any voxel predicted / true lesions", 3),
    "hd95_mm_mean": ("3D HD95 in mm, mean over volumes where both masks are non-empty", 2),
    "assd_mm_mean": ("3D average symmetric surface distance in mm, same volumes", 2),
    "abs_volume_diff_ml_mean": ("|predicted − true lesion volume| in mL, mean over volumes", 3),
}
"""The per-volume figures of volume data (``summary["volumes"]``): name → (what, decimals)."""

METRIC_HEADERS = ("metric", "value", "95 % CI", "what it counts")
VOLUME_HEADERS = ("volume metric", "value", "what it counts")
DECISION_HEADERS = ("step", "best setting", "Dice without", "Dice with", "kept")


def interval(summary: Mapping[str, Any], name: str) -> str:
    """``low – high`` of the 95 % interval; ``n/a`` when undefined, empty when none was made."""
    bounds = summary.get("ci", {}).get(name)
    if not bounds:
        return ""
    low, high = (number(bound) for bound in bounds)
    return "n/a" if "n/a" in (low, high) else f"{low} – {high}"


def metric_rows(summary: Mapping[str, Any], object_iou: Any = None) -> list[tuple[str, ...]]:
    """(name, value, 95 % CI, what it counts) for every Dice convention, then each other figure
    in ``summary`` (``aggregate``'s result or a ``metrics.json`` read back, ``null`` undefined)."""
    object_iou = summary.get("object_iou", object_iou)
    iou_rule = f"at IoU ≥ {object_iou}" if isinstance(object_iou, int | float) else "by IoU"
    count = summary.get("hd95_count")
    images = f"{count} images" if count is not None else "images"
    named = [(name, meaning, 3) for name, meaning in CONVENTIONS.items()]
    named += [(name, *entry) for name, entry in OTHER_METRICS.items() if name in summary]
    return [
        (
            name,
            number(summary.get(name), digits),
            interval(summary, name),
            meaning.format(iou_rule=iou_rule, images=images),
        )
        for name, meaning, digits in named
    ]


def decision_rows(payload: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """One row per ``sparseg tune`` decision, in the order taken (``DECISION_HEADERS``)."""
    return [
        (
            str(row.get("step", "?")),
            str(row.get("setting", "?")),
            number(row.get("dice_without"), 4),
            number(row.get("dice_with"), 4),
            "yes" if row.get("kept") else "no",
        )
        for row in payload.get("decisions", [])
    ]


FOLD_HEADERS = ("fold", "images", "Dice per image (95 % CI)", "Dice, images with target", "pooled")
SELECTION_HEADERS = ("candidate", "Dice at best threshold", "threshold", "Dice at 0.5")


def fold_rows(summary: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """One row per fold of ``sparseg crossval``'s summary (``FOLD_HEADERS``)."""
    return [
        (
            str(fold["fold"]),
            str(fold["n_images"]),
            f"{number(fold.get(HEADLINE), 3)} {interval(fold, HEADLINE)}",
            number(fold.get("dice_nonempty_truth"), 3),
            number(fold.get("dice_pooled"), 3),
        )
        for fold in summary.get("per_fold", [])
    ]


def selection_rows(payload: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """One row per candidate of ``sparseg select``'s ranking, best first."""
    return [
        (
            str(row["candidate"]),
            number(row.get("dice"), 4),
            f"{row['threshold']:g}",
            number(row.get("dice_at_0.5"), 4),
        )
        for row in payload.get("ranking", [])
    ]


def volume_rows(volumes: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The rows of the per-volume table (3D Dice, lesion-wise detection, distances, volume)."""
    return [
        (name, number(volumes.get(name), digits), what)
        for name, (what, digits) in VOLUME_METRICS.items()
    ]
