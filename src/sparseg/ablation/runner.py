"""``sparseg ablate``: every (stage, seed) of a ladder as an ordinary ``sparseg train`` (+ ``tune``)
+ ``evaluate`` in its own run directory ``DIR/<stage>/seed<k>/``, resumable and parallel.

Stages whose training is identical (they differ only in inference) share one trained model per
seed: the later ones hard-link the checkpoint into their own run directory, so an inference
trick's paired gain is measured on exactly the same models. ``DIR/<stage>/config.yaml`` is the
resolved stage config every command receives; the seed and the budget come with ``--set``.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from sparseg.ablation.collect import collect_rows
from sparseg.ablation.helper_steps import adopt_training, settle_inference
from sparseg.ablation.ladder import load_ladder
from sparseg.ablation.outputs import write_outputs
from sparseg.ablation.pace import require_same_pace
from sparseg.ablation.slurm import slurm_tasks, write_sbatch
from sparseg.ablation.sweep import (
    FAILED_FILE,
    LOG_FILE,
    PretrainedWeightsCheck,
    Run,
    RunBudget,
    evaluate_args,
    forget_model,
    lost_model,
    median_aspect,
    model_groups,
    pending_runs,
    plan_units,
    prepare_splits,
    shell,
    trained,
    tune_args,
    tuned,
    unit_label,
    unit_steps,
    write_plan,
)
from sparseg.errors import SparsegError
from sparseg.io_utils import atomic_write, ensure_output_dir

# The child dies with the sweep (Linux PR_SET_PDEATHSIG), so a killed sweep leaves no orphan
# training that a restarted sweep would race; __spec__ lets Fabric's DDP re-launch `-m` it.
_CHILD = (
    "import ctypes, importlib.util, os, signal, sys, __main__\n"
    "if sys.platform.startswith('linux'):\n"
    "    ctypes.CDLL(None).prctl(1, signal.SIGKILL)\n"
    "    if os.getppid() != int(sys.argv[1]): sys.exit(137)\n"
    "__main__.__spec__ = importlib.util.find_spec('sparseg.__main__')\n"
    "from sparseg.cli import main\n"
    "main(sys.argv[2:])\n"
)


LAUNCHERS = ("local", "slurm")


@dataclass(frozen=True)
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
    rows: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class StepFailed(Exception):
    pass


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
    budget = RunBudget(minutes_per_run, settings.steps_per_run)
    if settings.launcher not in LAUNCHERS:
        raise SparsegError(f"--launcher {settings.launcher}: choose one of {', '.join(LAUNCHERS)}")
    data = Path(data).resolve()
    out_dir = ensure_output_dir(out_dir, data)
    resolved = load_ladder(ladder, PretrainedWeightsCheck(data), lambda: median_aspect(data))
    splits = prepare_splits(data, settings.split_file, resolved, out_dir)
    plan = write_plan(resolved, data, splits, out_dir, seeds, budget)
    units = plan_units(resolved, splits, out_dir, seeds)
    result = AblationResult(out_dir)
    if settings.launcher == "slurm":
        result.outputs = write_sbatch(
            slurm_tasks(units, data, budget), out_dir, Path(ladder).stem, settings.quiet
        )
        return result
    if settings.emit_commands:
        result.commands = [
            f"# {unit_label(unit)}\n" + " && ".join(map(shell, unit_steps(unit, data, budget)))
            for unit in units
        ]
        print("\n".join(result.commands), flush=True)
        return result
    if budget.minutes and not settings.mixed_pace:
        require_same_pace(units, out_dir, budget.minutes)
    sweep = _Sweep(data, budget, settings.quiet, _device_slots(jobs))
    tasks = [task for unit in units for task in sweep.unit_tasks(unit)]
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        for failures in pool.map(lambda task: task(), tasks):
            result.failed.extend(failures)
    except BaseException:  # Ctrl-C: start nothing new; running children get the signal too
        sweep.stopping.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    result.rows = collect_rows(out_dir, plan)
    result.outputs = write_outputs(out_dir, result.rows, plan)
    return result


def _device_slots(jobs: int) -> queue.Queue[str] | None:
    """With several jobs on a GPU machine, one GPU per job (round robin over the GPUs)."""
    if jobs < 2:
        return None
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        return None
    slots: queue.Queue[str] = queue.Queue()
    for index in range(jobs):
        slots.put(str(index % count))
    return slots


def _last_line(path: Path) -> str:
    lines = [
        line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
    ]
    return next((line for line in reversed(lines) if line), "no output")


class _Countdown:
    """Counts down a unit's model tasks; the last to arrive gets every error among them."""

    def __init__(self, count: int) -> None:
        self.left, self.errors, self.lock = count, [], threading.Lock()

    def arrive(self, error: str | None) -> list[str] | None:
        with self.lock:
            self.left -= 1
            if error is not None:
                self.errors.append(error)
            return list(self.errors) if self.left == 0 else None


class _Sweep:
    """Runs units (a shared training and the stages evaluated on it, for one seed) as tasks."""

    def __init__(
        self, data: Path, budget: RunBudget, quiet: bool, devices: queue.Queue[str] | None
    ) -> None:
        self.data, self.budget, self.quiet, self.devices = data, budget, quiet, devices
        self.stopping = threading.Event()

    def say(self, run: Run, text: str) -> None:
        if not self.quiet:
            print(f"{run.label} {text}", flush=True)

    def unit_tasks(self, unit: list[Run]) -> list[Callable[[], list[str]]]:
        """The unit's work as tasks for the pool: one per model still to train (an ensemble's
        folds train side by side, as many at once as there are jobs), the last of them to end
        tuning and evaluating the unit's stages; a unit whose models are ready is one task."""
        pending = pending_runs(unit)
        for run in unit:
            if run not in pending:
                self.say(run, "skipped: done")
        if not pending:
            return []
        leader = unit[0]
        if lost_model(leader):
            lost = "has no checkpoint or saved probabilities here (a sweep carried without them)"
            self.say(leader, f"{lost}: training again")
            forget_model(unit)
        models = [steps for _, steps in model_groups(leader, self.data, self.budget)] or [[]]
        countdown = _Countdown(len(models))
        return [partial(self._model_task, leader, steps, pending, countdown) for steps in models]

    def _model_task(
        self, leader: Run, steps: list[list[str]], pending: list[Run], countdown: _Countdown
    ) -> list[str]:
        device = self.devices.get() if self.devices is not None else None
        try:
            error = None
            try:
                for args in steps:
                    self._command(leader, args, device)
            except StepFailed as exc:
                error = str(exc)
            errors = countdown.arrive(error)
            if errors is None:  # the unit's other models are still training
                return []
            if errors:
                return [self._fail(run, errors[0]) for run in pending]
            failures = []
            for run in pending:
                try:
                    self._finish(run, device)
                except StepFailed as exc:
                    failures.append(self._fail(run, str(exc)))
            return failures
        finally:
            if device is not None and self.devices is not None:
                self.devices.put(device)

    def _finish(self, run: Run, device: str | None) -> None:
        try:
            if run.leader is not None and not trained(run):
                self.say(run, f"reuses the training of {run.leader.stage.name}")
                adopt_training(run.leader.run_dir, run.run_dir)
            if run.stage.tune and not tuned(run):
                self._command(run, tune_args(run, self.data), device)
            settle_inference(run.inference_dir, run.stage_dir)
        except (SparsegError, OSError) as exc:
            raise StepFailed(str(exc)) from None
        self._command(run, evaluate_args(run, self.data), device)
        (run.run_dir / FAILED_FILE).unlink(missing_ok=True)
        self.say(run, "done")

    def _command(self, run: Run, args: list[str], device: str | None) -> None:
        if self.stopping.is_set():
            raise StepFailed("interrupted")
        self.say(run, args[0])
        run.run_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        if device is not None:
            env["CUDA_VISIBLE_DEVICES"] = device
        log_path = run.run_dir / LOG_FILE
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(f"$ {shell(('sparseg', args))}\n")
            log.flush()
            command = [sys.executable, "-c", _CHILD, str(os.getpid()), *args]
            code = subprocess.run(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
            ).returncode
        if code != 0:
            raise StepFailed(f"{args[0]} exited with {code}: {_last_line(log_path)}")

    def _fail(self, run: Run, message: str) -> str:
        atomic_write(run.run_dir / FAILED_FILE, lambda tmp: tmp.write_text(f"failed: {message}\n"))
        self.say(run, f"failed: {message}")
        return f"{run.stage.name}, seed {run.seed}: {message}"
