"""The small text files of a run directory: per-epoch metrics and the final summary."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from sparseg.io_utils import atomic_write_json, atomic_write_text

METRIC_COLUMNS = ("epoch", "step", "train_loss", "val_dice", "lr", "seconds", "images_per_s")


def write_metrics_csv(path: Path, rows: list[dict[str, float]]) -> None:
    """Rewrite the whole CSV each epoch, so a resumed run never keeps rows it replays."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=METRIC_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: row.get(key, "") for key in METRIC_COLUMNS})
    atomic_write_text(path, buffer.getvalue())


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    atomic_write_json(path, summary)
