"""Training curves (loss, validation Dice, learning rate per epoch) from a run's ``metrics.csv``."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sparseg.errors import SparsegError

CURVE_COLUMNS = ("epoch", "train_loss", "val_dice", "lr")
LOG_SCALE_RATIO = 10.0  # an LR that spans a decade or more is drawn on a log axis


def read_metrics_csv(path: Path) -> dict[str, np.ndarray]:
    """The columns of ``metrics.csv`` as float arrays (a blank cell is ``nan``).

    A missing curve column or a cell that is not a number is a one-line :class:`SparsegError`.
    """
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        missing = [name for name in CURVE_COLUMNS if name not in (reader.fieldnames or [])]
        if missing:
            raise SparsegError(f"{path}: missing column(s) {', '.join(missing)}")
        columns: dict[str, list[float]] = {name: [] for name in reader.fieldnames or []}
        for row in reader:
            for name, cell in row.items():
                columns[name].append(_float(cell, path, reader.line_num, name))
    return {name: np.array(values, dtype=float) for name, values in columns.items()}


def _float(cell: str | None, path: Path, line: int, column: str) -> float:
    if cell is None or not cell.strip():
        return math.nan
    try:
        return float(cell)
    except ValueError:
        raise SparsegError(f"{path}: line {line}, {column}: {cell!r} is not a number") from None


def training_curves_png(columns: dict[str, np.ndarray]) -> bytes:
    """:func:`training_curves_figure` as PNG bytes."""
    return figure_png(training_curves_figure(columns))


def training_curves_figure(columns: dict[str, np.ndarray]) -> Figure:
    """Three panels side by side: training loss, validation Dice (best epoch starred) and
    learning rate, each against the epoch; epochs without validation are left out of the Dice."""
    epoch = columns["epoch"]
    figure = Figure(figsize=(11, 3.2), layout="constrained")
    loss_axis, dice_axis, lr_axis = figure.subplots(1, 3)

    loss_axis.plot(epoch, columns["train_loss"], marker=".", color="#1f77b4")
    loss_axis.set_title("training loss")

    validated = np.isfinite(columns["val_dice"])
    dice_axis.plot(epoch[validated], columns["val_dice"][validated], marker=".", color="#2ca02c")
    title = "validation Dice"
    if validated.any():
        best = int(np.nanargmax(columns["val_dice"]))
        dice_axis.plot(epoch[best], columns["val_dice"][best], marker="*", ms=12, color="#d62728")
        title += f" (best {columns['val_dice'][best]:.3f}, epoch {epoch[best]:.0f})"
    dice_axis.set_title(title)

    lr = columns["lr"]
    lr_axis.plot(epoch, lr, marker=".", color="#9467bd")
    positive = lr[np.isfinite(lr) & (lr > 0)]
    if positive.size and positive.max() / positive.min() >= LOG_SCALE_RATIO:
        lr_axis.set_yscale("log")
    lr_axis.set_title("learning rate")

    for axis in (loss_axis, dice_axis, lr_axis):
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
    return figure


def figure_png(figure: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (Agg), to embed in the page."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
