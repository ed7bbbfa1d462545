"""Inference and evaluation commands: tune, crossval, select, predict, evaluate,
save-probabilities, score, export."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from sparseg.cli.app import (
    DataOption,
    SplitOption,
    app,
    out,
)
from sparseg.errors import SparsegError, SparsegWarning

# ---------------------------------------------------------------- inference and evaluation
RunOption = Annotated[
    list[Path], typer.Option("--run", "-r", help="run directory (repeat: ensemble)")
]


@app.command()
def tune(
    run: Annotated[Path, typer.Option("--run", "-r", help="run directory")],
    data: DataOption,
    split_file: SplitOption = None,
    fold: Annotated[int, typer.Option(min=0)] = 0,
) -> None:
    """Decide threshold, TTA, post-processing, CRF and empty gate on validation."""
    from sparseg import api
    from sparseg.reporting.tables import decisions_table
    from sparseg.run_layout import RunPaths

    payload = api.tune(run, data, split=split_file, fold=fold)
    out.print(decisions_table(payload))
    out.print(f"wrote {RunPaths(run).inference}")


@app.command()
def crossval(
    run: Annotated[Path, typer.Option("--run", "-r", help="a `train --fold all` folder")],
    data: DataOption,
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="folder for masks and metrics")
    ] = None,
) -> None:
    """Score the out-of-fold predictions: every training image by the fold that held it out."""
    from sparseg import api
    from sparseg.reporting.tables import format_fold_table

    summary = api.crossval(run, data, out=out_dir)
    _print_metrics(summary)
    out.print(format_fold_table(summary))


@app.command()
def select(
    runs: Annotated[
        list[Path], typer.Option("--run", "-r", help="a `train --fold all` folder (repeat)")
    ],
    data: DataOption,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="folder for the choice (then: predict --run OUT)")
    ],
) -> None:
    """Rank configurations and their pairs on out-of-fold Dice; write the best for predict."""
    from sparseg import api
    from sparseg.reporting.tables import decisions_table, selection_table

    payload = api.select(runs, data, out_dir)
    out.print(selection_table(payload))
    out.print(decisions_table(payload["tuned"]))
    out.print(f"chose {payload['reason']}; wrote {out_dir} (use it as --run)")


@app.command()
def predict(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="folder for the masks")],
    input_path: Annotated[
        Path, typer.Option("--input", "-i", help="image or volume file, or a folder of them")
    ],
    runs: Annotated[
        list[Path] | None, typer.Option("--run", "-r", help="run directory (repeat: ensemble)")
    ] = None,
    onnx: Annotated[Path | None, typer.Option(help="predict with an exported ONNX model")] = None,
    probabilities: Annotated[
        bool,
        typer.Option(
            help="also write probabilities into OUT/probabilities/ (16-bit PNG; float32 volumes)"
        ),
    ] = False,
) -> None:
    """Write one binary mask PNG per image at its native size; one mask volume per input
    volume (NIfTI with the input's affine and header) or stack (multi-frame DICOM / TIFF)."""
    if bool(runs) == (onnx is not None):
        raise SparsegError("predict: give either --run (one or more) or --onnx, not both")
    from sparseg import api

    source = [onnx] if onnx is not None else list(runs or [])
    written = api.predict(source, input_path, out_dir, probabilities=probabilities)
    out.print(f"wrote {len(written)} masks to {out_dir}")


@app.command()
def evaluate(
    runs: RunOption,
    data: DataOption,
    split_file: SplitOption = None,
    fold: Annotated[int, typer.Option(min=0)] = 0,
    subset: Annotated[str, typer.Option(help="test, val, train or all")] = "test",
    json_out: Annotated[Path | None, typer.Option("--json", help="copy of metrics.json")] = None,
) -> None:
    """Predict a split of the data and score it in every Dice convention."""
    from sparseg import api
    from sparseg.evaluation.score import json_safe
    from sparseg.io_utils import atomic_write_json, ensure_output_file

    if json_out is not None:
        ensure_output_file(json_out, (".json",), *([split_file] if split_file else []))
    summary = api.evaluate(runs, data, split=split_file, fold=fold, subset=subset)
    _print_metrics(summary)
    if json_out is not None:
        atomic_write_json(json_out, json_safe(summary))


@app.command("save-probabilities")
def save_probabilities(
    run: Annotated[Path, typer.Option("--run", "-r", help="run directory")],
    data: DataOption,
    split_file: SplitOption = None,
    fold: Annotated[int, typer.Option(min=0)] = 0,
    subsets: Annotated[
        list[str] | None,
        typer.Option("--subset", help="test, val, train or all (repeat; default: test)"),
    ] = None,
) -> None:
    """Save the run's probabilities (with and without TTA) into RUN/probabilities.npz, so the
    run tunes, evaluates and joins an ensemble where its checkpoint is not; a fold folder's, into
    each fold's."""
    from sparseg.inference.save_probabilities import save_probabilities as save

    chosen = tuple(subsets or ["test"])
    for path in save(run, data, split_file=split_file, fold=fold, subsets=chosen):
        out.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


@app.command()
def score(
    pred: Annotated[Path, typer.Option("--pred", "-p", help="folder of predicted masks")],
    data: DataOption,
    split_file: SplitOption = None,
    subset: Annotated[str, typer.Option(help="test, val, train or all (with --split)")] = "test",
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="folder for metrics files")
    ] = None,
    label: Annotated[int | None, typer.Option(help="label value kept as foreground")] = None,
    present_only: Annotated[
        bool,
        typer.Option("--present-only", help="score exactly the images that have a mask in --pred"),
    ] = False,
) -> None:
    """Score existing masks from any tool against a data set's ground truth."""
    from sparseg import api

    summary = api.score(
        pred,
        data,
        split=split_file,
        subset=subset,
        out=out_dir,
        label=label,
        present_only=present_only,
    )
    _print_metrics(summary)


def _print_metrics(summary: dict) -> None:
    """The slice table, then the per-volume table for volume data."""
    from sparseg.reporting.tables import format_metrics_table, format_volume_table

    out.print(format_metrics_table(summary))
    volumes = format_volume_table(summary)
    if volumes is not None:
        out.print(volumes)
    if summary.get("blank"):
        recall = summary["recall_pooled"]
        warnings.warn(
            f"the model is {summary['blank']}: it marked {recall:.1%} of the target pixels "
            "(train_summary.json says whether training restarted it; try another seed, a lower "
            "training.lr or more steps)",
            SparsegWarning,
            stacklevel=1,
        )


@app.command()
def export(
    run: Annotated[Path, typer.Option("--run", "-r", help="run directory")],
    onnx: Annotated[Path, typer.Option(help="ONNX file to write")],
    tta: Annotated[
        bool | None,
        typer.Option(help="fold 8-fold TTA into the graph (default: as the run was tuned)"),
    ] = None,
) -> None:
    """Export the run's best model to ONNX (sigmoid folded in), verified against PyTorch."""
    from sparseg import api

    difference = api.export(run, onnx, tta=tta)
    out.print(f"wrote {onnx} (max abs difference to PyTorch {difference:.2e})")
