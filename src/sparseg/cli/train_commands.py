"""Training commands: train, augment-preview."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from sparseg.cli.app import (
    ConfigOption,
    DataOption,
    SetOption,
    SplitOption,
    app,
    load_cli_config,
    out,
)
from sparseg.errors import SparsegWarning


@app.command()
def train(
    data: DataOption,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="run directory")],
    config: ConfigOption = None,
    overrides: SetOption = None,
    split_file: SplitOption = None,
    fold: Annotated[str, typer.Option(help="fold of a k-fold split file, or 'all'")] = "0",
    resume: Annotated[bool, typer.Option(help="continue from RUN_DIR/last.ckpt")] = False,
    devices: Annotated[int | None, typer.Option(min=1, help="processes (DDP)")] = None,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Train a model; RUN_DIR receives config, checkpoints, metrics.csv and train_summary.json."""
    from sparseg import api
    from sparseg.run_layout import RunPaths, run_dirs
    from sparseg.training.convergence import stall_warning

    cfg = _resume_or_load(out_dir, config, overrides, resume)
    if devices is not None:
        cfg.training.devices = devices
    summaries = api.train(
        cfg, data, out_dir, split=split_file, fold=fold, resume=resume, quiet=quiet
    )
    for name, summary in summaries.items():
        if summary is not None:
            out.print(
                f"{name}: best val Dice {summary['best_val_dice']:.4f} at epoch "
                f"{summary['best_epoch']} ({summary['steps']} steps, {summary['stop_reason']})"
            )
    for run in run_dirs([out_dir]):
        if (warning := stall_warning(RunPaths(run).metrics_csv)) is not None:
            warnings.warn(warning, SparsegWarning, stacklevel=1)


def _resume_or_load(run_dir: Path, config: Path | None, overrides: list[str] | None, resume: bool):
    """A resumed run keeps the configuration it was started with."""
    from sparseg.run_layout import RunPaths

    saved = RunPaths(run_dir).config
    if resume and saved.is_file() and config is None and not overrides:
        return load_cli_config(saved, None)
    return load_cli_config(config, overrides)


@app.command("augment-preview")
def augment_preview(
    data: DataOption,
    out_png: Annotated[Path, typer.Option("--out", "-o", help="PNG to write")],
    config: ConfigOption = None,
    overrides: SetOption = None,
    n: Annotated[int, typer.Option(min=1, max=32, help="samples")] = 4,
) -> None:
    """Write a PNG grid of augmented training samples with mask contours."""
    from sparseg.augment.preview import augment_preview as write_preview

    write_preview(load_cli_config(config, overrides), data, out_png, n)
    out.print(f"wrote {out_png}")
