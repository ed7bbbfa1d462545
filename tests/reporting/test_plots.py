"""Training curves: reading metrics.csv and drawing loss, validation Dice and LR."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from sparseg.errors import SparsegError
from sparseg.reporting.plots import (
    read_metrics_csv,
    training_curves_figure,
    training_curves_png,
)

HEADER = "epoch,step,train_loss,val_dice,lr,seconds,images_per_s\n"


def write_csv(tmp_path, body: str):
    path = tmp_path / "metrics.csv"
    path.write_text(HEADER + body)
    return path


def test_read_metrics_csv_turns_blank_and_nan_cells_into_nan(tmp_path) -> None:
    path = write_csv(
        tmp_path, "0,2,0.9,,0.001,1.0,5\n1,4,0.8,nan,0.001,1.0,5\n2,6,0.7,0.25,1e-4,1,5\n"
    )
    columns = read_metrics_csv(path)
    assert columns["epoch"].tolist() == [0.0, 1.0, 2.0]
    assert columns["train_loss"].tolist() == [0.9, 0.8, 0.7]
    assert math.isnan(columns["val_dice"][0]) and math.isnan(columns["val_dice"][1])
    assert columns["val_dice"][2] == 0.25
    assert columns["lr"][2] == 1e-4


def test_read_metrics_csv_names_the_bad_cell(tmp_path) -> None:
    path = write_csv(tmp_path, "0,2,0.9,0.1,0.001,1,5\n1,4,oops,0.1,0.001,1,5\n")
    with pytest.raises(SparsegError, match=r"metrics\.csv: line 3, train_loss: 'oops'"):
        read_metrics_csv(path)


def test_read_metrics_csv_needs_the_curve_columns(tmp_path) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step\n0,1\n")
    with pytest.raises(SparsegError, match=r"missing column\(s\) train_loss, val_dice, lr"):
        read_metrics_csv(path)


def curves(lr: list[float], val_dice: list[float]) -> dict[str, np.ndarray]:
    n = len(lr)
    return {
        "epoch": np.arange(n, dtype=float),
        "train_loss": np.linspace(1.0, 0.5, n),
        "val_dice": np.array(val_dice),
        "lr": np.array(lr),
    }


def test_validation_panel_skips_unvalidated_epochs_and_names_the_best() -> None:
    figure = training_curves_figure(curves([1e-3] * 4, [math.nan, 0.2, math.nan, 0.6]))
    loss_axis, dice_axis, lr_axis = figure.axes
    assert dice_axis.get_title() == "validation Dice (best 0.600, epoch 3)"
    line, star = dice_axis.get_lines()
    assert line.get_xdata().tolist() == [1.0, 3.0]
    assert star.get_xdata().tolist() == [3.0] and star.get_ydata().tolist() == [0.6]
    assert lr_axis.get_yscale() == "linear"
    assert loss_axis.get_lines()[0].get_ydata().tolist() == pytest.approx([1.0, 5 / 6, 2 / 3, 0.5])


def test_learning_rate_spanning_a_decade_is_drawn_on_a_log_axis() -> None:
    figure = training_curves_figure(curves([1e-4, 1e-3, 5e-4, 1e-4], [0.1] * 4))
    assert figure.axes[2].get_yscale() == "log"
    figure = training_curves_figure(curves([1e-3, 9e-4, 5e-4, 2e-4], [0.1] * 4))
    assert figure.axes[2].get_yscale() == "linear"


def test_no_validation_at_all_still_draws() -> None:
    figure = training_curves_figure(curves([1e-3, 1e-3], [math.nan, math.nan]))
    assert figure.axes[1].get_title() == "validation Dice"
    assert len(figure.axes[1].get_lines()) == 1


def test_png_is_1100_by_320_pixels() -> None:
    png = training_curves_png(curves([1e-3] * 3, [0.1, 0.2, 0.3]))
    assert Image.open(io.BytesIO(png)).size == (1100, 320)
