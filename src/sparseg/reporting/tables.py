"""Rich tables printed by the CLI (rows from :mod:`sparseg.reporting.rows`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.table import Table

from sparseg.reporting.markup import number
from sparseg.reporting.rows import (
    DECISION_HEADERS,
    FOLD_HEADERS,
    METRIC_HEADERS,
    SELECTION_HEADERS,
    VOLUME_HEADERS,
    decision_rows,
    fold_rows,
    metric_rows,
    selection_rows,
    volume_rows,
)


def _table(title: str, headers: Sequence[str], rows: Iterable[Sequence[str]]) -> Table:
    table = Table(title=title)
    for column in headers:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    return table


def format_metrics_table(summary: Mapping[str, Any]) -> Table:
    """Each Dice convention with its 95 % interval and what it counts, then pooled IoU,
    precision/recall, HD95 and object F1. Works on ``aggregate``'s result and on a
    ``metrics.json`` read back (``null`` for undefined)."""
    title = f"{summary['n_images']} images ({summary['n_empty_truth']} empty truth)"
    return _table(title, METRIC_HEADERS, metric_rows(summary))


def format_volume_table(summary: Mapping[str, Any]) -> Table | None:
    """The per-volume figures of volume data beside the slice table; None for 2D data."""
    volumes = summary.get("volumes")
    if not volumes:
        return None
    title = (
        f"3D Dice and lesion-wise detection: {volumes['n_volumes']} volumes, "
        f"{volumes['n_lesions']} lesions ({volumes['n_pred_lesions']} predicted)"
    )
    return _table(title, VOLUME_HEADERS, volume_rows(volumes))


def decisions_table(payload: dict[str, Any]) -> Table:
    """``sparseg tune``'s decision table: validation Dice without and with each step."""
    title = f"Inference tuning on {payload['n_val_images']} validation images "
    table = _table(f"{title}({payload['criterion']})", DECISION_HEADERS, decision_rows(payload))
    table.caption = (
        f"validation Dice {number(payload['baseline_val_dice'], 4)} → "
        f"{number(payload['tuned_val_dice'], 4)}"
    )
    return table


def format_fold_table(summary: Mapping[str, Any]) -> Table:
    """``sparseg crossval``'s per-fold figures and their spread (headline Dice with its 95 %
    interval, the Dice over images with a target, the pooled Dice)."""
    spread = summary["fold_spread"]
    table = _table(f"Per fold ({summary['inference']})", FOLD_HEADERS, fold_rows(summary))
    table.caption = (
        f"{spread['metric']} over folds: mean {number(spread['mean'], 3)}, "
        f"sd {number(spread['sd'], 3)}, range {number(spread['min'], 3)}–{number(spread['max'], 3)}"
    )
    return table


def selection_table(payload: Mapping[str, Any]) -> Table:
    """``sparseg select``'s ranking of configurations and pairs on out-of-fold Dice."""
    title = f"Out-of-fold Dice on {payload['n_images']} images ({payload['criterion']})"
    return _table(title, SELECTION_HEADERS, selection_rows(payload))
