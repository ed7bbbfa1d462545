"""The typer application, its shared options and consoles; commands live beside this file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sparseg import __version__

app = typer.Typer(
    name="sparseg",
    help="Segment small structures in medical images: inspect, train, tune, evaluate, export.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
config_app = typer.Typer(help="Inspect configurations.", no_args_is_help=True)
app.add_typer(config_app, name="config")

out = Console(width=None if sys.stdout.isatty() else 120)  # tables stay readable when piped
err = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML config (default: built-in defaults)")
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="override a key: section.key=value (repeatable)"),
]
DataArgument = Annotated[Path, typer.Argument(help="data set folder (images/ + masks/)")]
DataOption = Annotated[Path, typer.Option("--data", "-d", help="data set folder")]
SplitOption = Annotated[
    Path | None, typer.Option("--split", help="split JSON ({test, folds} or {train, val, test})")
]


def _version(value: bool) -> None:
    if value:
        out.print(f"sparseg {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False,
) -> None:
    """sparseg: the full small-structure segmentation recipe, measured honestly."""


def load_cli_config(config: Path | None, overrides: list[str] | None):
    from sparseg.config import load_config

    return load_config(config, overrides or [])
