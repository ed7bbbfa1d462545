"""The run directory: its guard against lost work, per-epoch metrics and the final summary."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from sparseg.errors import SparsegError
from sparseg.io_utils import atomic_write_json, atomic_write_text
from sparseg.run_layout import STALE_CHECKPOINT_GLOB, RunPaths

METRIC_COLUMNS = (
    "epoch",
    "step",
    "train_loss",
    "val_dice",
    "val_threshold",
    "val_dice_with_target",
    "val_blank",
    "lr",
    "seconds",
    "images_per_s",
)


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


def prepare_run_dir(out_dir: Path, data_root: Path, resume: bool) -> None:
    """Refuse run directories that would lose work; clear temp files a killed write left."""
    if out_dir.exists() and not out_dir.is_dir():
        raise SparsegError(f"{out_dir}: run directory path exists and is a file")
    data = Path(data_root).resolve()
    if out_dir.resolve() == data or data in out_dir.resolve().parents:
        raise SparsegError(f"{out_dir}: run directory lies inside the data folder {data}")
    has_checkpoint = RunPaths(out_dir).last.exists()
    if resume and not has_checkpoint:
        raise SparsegError(f"{out_dir}: --resume given but there is no last.ckpt to resume from")
    if has_checkpoint and not resume:
        raise SparsegError(
            f"{out_dir}: already holds a training run (last.ckpt); pass --resume to continue it "
            "or choose another --out"
        )
    for stale in out_dir.glob(STALE_CHECKPOINT_GLOB) if resume else ():
        stale.unlink(missing_ok=True)
