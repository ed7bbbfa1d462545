"""Pretraining command: pretrain (self-supervised, on labelled and unlabelled images)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sparseg.cli.app import ConfigOption, SetOption, app, load_cli_config, out


@app.command()
def pretrain(
    out_file: Annotated[Path, typer.Option("--out", "-o", help="weights file to write (.pth)")],
    data: Annotated[
        Path | None, typer.Option("--data", "-d", help="labelled data set (labels ignored)")
    ] = None,
    images: Annotated[
        list[Path] | None,
        typer.Option("--images", help="folder of unlabelled images, volumes or loops (repeatable)"),
    ] = None,
    config: ConfigOption = None,
    overrides: SetOption = None,
    minutes: Annotated[float | None, typer.Option(min=0.01, help="wall-clock budget")] = None,
    steps: Annotated[int | None, typer.Option(min=1, help="optimiser steps")] = None,
    split_file: Annotated[
        Path | None,
        typer.Option("--split", help="split JSON: --data's test cases are left out"),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(help="continue from the .ckpt beside --out where there is one, else start"),
    ] = False,
    devices: Annotated[int | None, typer.Option(min=1, help="processes (DDP)")] = None,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Self-supervised pretraining of the configured network (encoder and decoder) on every
    image given; writes weights for model.pretrained_weights, and a .json of what it saw."""
    from sparseg.training.pretrain import pretrain as run_pretraining

    cfg = load_cli_config(config, overrides)
    if devices is not None:
        cfg.training.devices = devices
    summary = run_pretraining(
        cfg, out_file, data, images or [], split_file, minutes, steps, resume, quiet
    )
    out.print(
        f"wrote {summary['weights']}: {summary['images']} images, {summary['steps']} steps in "
        f"{summary['minutes']:.1f} min, loss {summary['first_loss']:.4f} → "
        f"{summary['final_loss']:.4f} ({summary['stop_reason']})"
    )
