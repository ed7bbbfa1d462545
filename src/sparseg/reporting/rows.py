"""The rows of the metrics and tuning tables, once: the console (rich, :mod:`.tables`) and the
HTML report (:mod:`.sections`) only lay them out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sparseg.evaluation.aggregate import CONVENTIONS
from sparseg.reporting.markup import number

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

METRIC_HEADERS = ("metric", "value", "95 % CI", "what it counts")
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
