"""``sparseg ablate``: every (stage, seed) of a ladder as an ordinary ``sparseg train`` (+ ``tune``)
+ ``evaluate`` in its own run directory ``DIR/<stage>/seed<k>/``, resumable and parallel.

Stages whose training is identical (they differ only in inference) share one trained model per
seed: the later ones hard-link the checkpoint into their own run directory, so an inference
trick's paired gain is measured on exactly the same models. ``DIR/<stage>/config.yaml`` is the
resolved stage config every command receives; the random seed and the budget come with ``--set``.

:func:`run_ablation` prepares the sweep folder, makes the sweep's one plan
(:mod:`sparseg.ablation.plan`) and hands it to one executor: the local pool, the printed
commands, or the SLURM scripts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sparseg.ablation.ladder import load_ladder
from sparseg.ablation.local import LocalPool, device_slots
from sparseg.ablation.outputs import write_outputs
from sparseg.ablation.pace import require_same_pace
from sparseg.ablation.plan import build_plan, emitted_commands, plan_units
from sparseg.ablation.prepare import (
    PretrainedWeightsCheck,
    median_aspect,
    prepare_splits,
    write_plan,
)
from sparseg.ablation.rows import SweepRow, collect_rows
from sparseg.ablation.slurm import slurm_tasks, write_sbatch
from sparseg.ablation.sweep import Run, RunBudget, forget_model, lost_model, pending_runs
from sparseg.errors import SparsegError
from sparseg.io_utils import ensure_output_dir

LAUNCHERS = ("local", "slurm")


@dataclass(frozen=True, kw_only=True)
class SweepSettings:
    """How to run a sweep: ``seeds`` per stage, an optional shared split file, a wall-clock and/or
    optimizer-step budget per training, ``jobs`` runs at once; ``emit_commands`` prints each
    run's commands instead; ``launcher`` ``slurm`` writes a job-array script and its submit script
    for the unfinished units instead (:mod:`sparseg.ablation.slurm`); ``mixed_pace`` resumes a
    minute-bound sweep on a machine of another pace (:mod:`sparseg.ablation.pace`)."""

    seeds: int = 3
    split_file: Path | None = None
    minutes_per_run: float | None = None
    jobs: int = 1
    emit_commands: bool = False
    quiet: bool = False
    launcher: str = "local"
    steps_per_run: int | None = None
    mixed_pace: bool = False


@dataclass
class AblationResult:
    out_dir: Path
    rows: list[SweepRow] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def run_ablation(
    data: Path, ladder: Path, out_dir: Path, settings: SweepSettings | None = None
) -> AblationResult:
    """Run (or with ``settings.emit_commands`` print the shell commands of) every (stage, seed)
    of a ladder.

    Finished runs (``evaluation.json`` present) are not re-run; a partial training resumes from
    its ``last.ckpt``. Writes ``ablation.csv``, ``ablation.md`` and ``ablation.png`` into
    ``out_dir``. A failing run is recorded (``failed`` in the result and the outputs) and the sweep
    goes on; bad input raises :class:`SparsegError` before anything runs.
    """
    settings = settings or SweepSettings()
    seeds, jobs, minutes_per_run = settings.seeds, settings.jobs, settings.minutes_per_run
    if seeds < 1 or jobs < 1:
        raise SparsegError(f"--seeds {seeds} / --jobs {jobs}: both must be at least 1")
    if minutes_per_run is not None and minutes_per_run <= 0:
        raise SparsegError(f"--minutes-per-run {minutes_per_run}: must be positive")
    if settings.steps_per_run is not None and settings.steps_per_run < 1:
        raise SparsegError(f"--steps-per-run {settings.steps_per_run}: must be at least 1")
    budget = RunBudget(minutes=minutes_per_run, steps=settings.steps_per_run)
    if settings.launcher not in LAUNCHERS:
        raise SparsegError(f"--launcher {settings.launcher}: choose one of {', '.join(LAUNCHERS)}")
    data = Path(data).resolve()
    out_dir = ensure_output_dir(out_dir, data)
    resolved = load_ladder(ladder, PretrainedWeightsCheck(data), lambda: median_aspect(data))
    splits = prepare_splits(data, settings.split_file, resolved, out_dir)
    manifest = write_plan(resolved, data, splits, out_dir, seeds, budget)
    units = plan_units(resolved, splits, out_dir, seeds)
    result = AblationResult(out_dir)
    if settings.launcher == "slurm":
        tasks = slurm_tasks(build_plan(units, data, budget))
        result.outputs = write_sbatch(tasks, out_dir, Path(ladder).stem, settings.quiet)
        return result
    if settings.emit_commands:
        result.commands = emitted_commands(build_plan(units, data, budget, from_scratch=True))
        print("\n".join(result.commands), flush=True)
        return result
    if budget.minutes and not settings.mixed_pace:
        require_same_pace(units, out_dir, budget.minutes)
    pool = LocalPool(jobs=jobs, quiet=settings.quiet, devices=device_slots(jobs))
    for unit in units:
        if pending_runs(unit) and lost_model(unit[0]):
            _train_again(unit, pool)
    result.failed = pool.run(build_plan(units, data, budget))
    result.rows = collect_rows(out_dir, manifest)
    result.outputs = write_outputs(out_dir, result.rows, manifest)
    return result


def _train_again(unit: list[Run], pool: LocalPool) -> None:
    """A unit whose model was lost here trains again: what it derived from that model goes first,
    so that a sweep stopped while it trains does not take the old evaluations for done."""
    lost = "has no checkpoint or saved probabilities here (a sweep carried without them)"
    pool.say(unit[0], f"{lost}: training again")
    forget_model(unit)
