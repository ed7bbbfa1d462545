"""Evidence commands: report, ablate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sparseg.cli.app import app, err, out


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


@app.command()
def ablate(
    data: Annotated[Path, typer.Option("--data", "-d", help="data set folder")],
    ladder: Annotated[Path, typer.Option(help="ladder YAML (configs/ladders/*.yaml)")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="sweep folder")],
    seeds: Annotated[int, typer.Option(min=1, help="seeds per stage")] = 3,
    split_file: Annotated[
        Path | None, typer.Option("--split", help="split JSON shared by every run")
    ] = None,
    minutes_per_run: Annotated[
        float | None, typer.Option(min=0.01, help="wall-clock budget of each training")
    ] = None,
    steps_per_run: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="optimizer-step budget of each training (whichever of steps and minutes ends "
            "first): verdicts that do not depend on the machine's load",
        ),
    ] = None,
    budgets: Annotated[
        str | None,
        typer.Option(
            help="time–quality curve: sweep the ladder once per wall-clock budget (minutes, "
            "e.g. 2,5,15) into OUT/<m>min/ and write OUT/curve.{csv,md,png}",
        ),
    ] = None,
    jobs: Annotated[
        int, typer.Option(min=1, help="trainings at once, folds too (one GPU each)")
    ] = 1,
    emit_commands: Annotated[
        bool, typer.Option(help="print each run's command line for a scheduler; run nothing")
    ] = False,
    quiet: Annotated[bool, typer.Option(help="no progress lines")] = False,
    launcher: Annotated[
        str,
        typer.Option(
            help="local: run here; slurm: write DIR/sweep.sbatch (one array task per model "
            "still to train, an ensemble's folds each, then each unit's tune and evaluate) and "
            "DIR/submit.sh (submits them, each unit after its own trainings), and run nothing"
        ),
    ] = "local",
    mixed_pace: Annotated[
        bool,
        typer.Option(
            help="resume a minute-bound sweep although this machine trains at another pace "
            "than the one that ran its finished runs (their seeds then made other step counts)"
        ),
    ] = False,
) -> None:
    """Climb a ladder of recipe stages over several seeds; write ablation.{csv,md,png}."""
    from sparseg.ablation import SweepSettings, run_ablation

    settings = SweepSettings(
        seeds=seeds,
        split_file=split_file,
        minutes_per_run=minutes_per_run,
        jobs=jobs,
        emit_commands=emit_commands,
        quiet=quiet,
        launcher=launcher,
        steps_per_run=steps_per_run,
        mixed_pace=mixed_pace,
    )
    if budgets is None:
        results = [run_ablation(data, ladder, out_dir, settings)]
    else:
        from sparseg.ablation.curve import parse_budgets, run_curve

        results = run_curve(data, ladder, out_dir, parse_budgets(budgets), settings)
    failed = [line for result in results for line in result.failed]
    for line in failed:
        err.print(f"failed: {line}", markup=False, highlight=False)
    if failed:
        raise typer.Exit(1)
    if not emit_commands and launcher == "local":
        written = [path for result in results for path in result.outputs]
        out.print(f"wrote {', '.join(str(path) for path in written)}")
