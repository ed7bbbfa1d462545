"""Rich tables printed by the CLI (rows from :mod:`sparseg.reporting.rows`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

from sparseg.reporting.markup import number
from sparseg.reporting.rows import (
    DECISION_HEADERS,
    METRIC_HEADERS,
    VOLUME_HEADERS,
    decision_rows,
    metric_rows,
    volume_rows,
)


def format_metrics_table(summary: Mapping[str, Any]) -> Table:
    """Each Dice convention with its 95 % interval and what it counts, then pooled IoU,
    precision/recall, HD95 and object F1. Works on ``aggregate``'s result and on a
    ``metrics.json`` read back (``null`` for undefined)."""
    table = Table(title=f"{summary['n_images']} images ({summary['n_empty_truth']} empty truth)")
    for column in METRIC_HEADERS:
        table.add_column(column)
    for row in metric_rows(summary):
        table.add_row(*row)
    return table


def format_volume_table(summary: Mapping[str, Any]) -> Table | None:
    """The per-volume figures of volume data beside the slice table; None for 2D data."""
    volumes = summary.get("volumes")
    if not volumes:
        return None
    table = Table(
        title=f"3D Dice and lesion-wise detection: {volumes['n_volumes']} volumes, "
        f"{volumes['n_lesions']} lesions ({volumes['n_pred_lesions']} predicted)"
    )
    for column in VOLUME_HEADERS:
        table.add_column(column)
    for row in volume_rows(volumes):
        table.add_row(*row)
    return table


def decisions_table(payload: dict[str, Any]) -> Table:
    """``sparseg tune``'s decision table: validation Dice without and with each step."""
    table = Table(
        title=f"Inference tuning on {payload['n_val_images']} validation images "
        f"({payload['criterion']})"
    )
    for column in DECISION_HEADERS:
        table.add_column(column)
    for row in decision_rows(payload):
        table.add_row(*row)
    table.caption = (
        f"validation Dice {number(payload['baseline_val_dice'], 4)} → "
        f"{number(payload['tuned_val_dice'], 4)}"
    )
    return table
