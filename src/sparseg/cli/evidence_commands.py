"""Evidence commands: report, ablate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sparseg.cli.app import (
    app,
    out,
)


@app.command()
def report(
    run: Annotated[Path, typer.Option("--run", "-r", help="run directory")],
    out_html: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write")],
    ablation: Annotated[
        Path | None, typer.Option(help="ablation folder (ablation.md, ablation.png)")
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", "-d", help="data set (default: the one evaluated)")
    ] = None,
) -> None:
    """Write a self-contained HTML report: config, curves, metrics, cases, tuning, ablation."""
    from sparseg.reporting.report import render_report

    render_report(run, out_html, ablation, data)
    out.print(f"wrote {out_html}")
