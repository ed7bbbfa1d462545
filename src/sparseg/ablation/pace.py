"""Whether this machine trains at the pace of the one that ran a minute-bound sweep's finished runs.

A wall-clock budget buys optimiser steps in proportion to the machine's speed, and shared
machines differ by several times from one day to the next (see the speed evidence,
``docs/evidence/speed.md``): a minute-bound sweep resumed on a slower machine would average runs
of a third of the steps with the others of one stage under one "15 minutes". So before a resumed
minute-bound sweep trains anything, one stage that has both finished and pending runs gets one
training step timed here (the planner's timer, :func:`sparseg.training.sizing.time_step`),
compared with the step time its finished runs recorded in ``train_summary.json``. The timer
runs on the CPU, so a machine with CUDA is not checked (its runs' device and precision would
have to be replayed); finished GPU runs resumed on a CPU-only machine are refused, rightly.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from sparseg.ablation.rows import TrainingFacts
from sparseg.ablation.sweep import Run, finished
from sparseg.config import Config
from sparseg.errors import SparsegError
from sparseg.run_layout import RunPaths

# the timer's random batch and plain loss differ from a real step by less than this; the
# machines' day-to-day spread is larger (2.3-3.3x: README's time-quality curve, goals-ms)
PACE_TOLERANCE = 1.5

StepTimer = Callable[[Config, int], float]


@dataclass(frozen=True)
class PaceCheck:
    """The finished runs' seconds per optimiser step (median over them) against this machine's."""

    stage: str
    finished_seconds: float
    here_seconds: float

    @property
    def ratio(self) -> float:
        return self.here_seconds / self.finished_seconds

    @property
    def differs(self) -> bool:
        return not 1 / PACE_TOLERANCE <= self.ratio <= PACE_TOLERANCE

    def describe(self) -> str:
        pace = f"{self.ratio:.1f}x slower" if self.ratio >= 1 else f"{1 / self.ratio:.1f}x faster"
        return (
            f"a `{self.stage}` training step takes {self.here_seconds:.2f} s here and took "
            f"{self.finished_seconds:.2f} s in the finished runs ({pace})"
        )


def check_pace(units: list[list[Run]], timer: StepTimer | None = None) -> PaceCheck | None:
    """Time one step of the first stage with finished and pending trainings whose finished runs
    recorded their step time; None when there is none (a new or a finished sweep). Stages with
    progressive resizing are passed over: their recorded steps were partly at a smaller size."""
    if torch.cuda.is_available():
        return None
    done: dict[str, list[Run]] = {}
    pending: set[str] = set()
    for unit in units:
        leader = unit[0]
        if leader.stage.config.training.progressive is not None:
            continue
        key = leader.stage.training_key
        if finished(unit):
            done.setdefault(key, []).append(leader)
        else:
            pending.add(key)
    for key, runs in done.items():
        recorded = [found for run in runs if (found := _recorded(run)) is not None]
        if key not in pending or not recorded:
            continue
        stage, channels = runs[0].stage, recorded[0][1]
        here = (timer or _time_stage)(stage.config, channels)
        return PaceCheck(stage.name, statistics.median(seconds for seconds, _ in recorded), here)
    return None


def require_same_pace(
    units: list[list[Run]], out_dir: Path, minutes: float, timer: StepTimer | None = None
) -> PaceCheck | None:
    """:func:`check_pace`, raising :class:`SparsegError` when the pace differs."""
    check = check_pace(units, timer)
    if check is not None and check.differs:
        raise SparsegError(
            f"{out_dir}: {check.describe()}: {minutes:g} minutes per run would buy a different "
            "number of steps here, so this machine's seeds would not compare with the finished "
            "ones; finish the sweep on a machine of that pace, or pass --mixed-pace"
        )
    return check


def _recorded(run: Run) -> tuple[float, int] | None:
    """Seconds per optimiser step over a run's trainings (forward, loss, backward, step) and
    the input channels they trained on; None for summaries that lack either."""
    summaries = [RunPaths(folder).train_summary for folder in run.trained_dirs]
    if not all(path.is_file() for path in summaries):
        return None
    facts = TrainingFacts.read(summaries)
    steps, seconds, channels = facts.steps, facts.step_seconds, facts.in_channels
    return (seconds / steps, channels) if steps and seconds and channels else None


def _time_stage(config: Config, in_channels: int) -> float:
    from sparseg.training.sizing import Candidate, time_step

    # the extra heads add little to a step and need their own loss wiring; the weights' values
    # cost nothing and loading them may need the network
    plain = config.model_copy(deep=True)
    plain.model.deep_supervision, plain.model.presence_head = False, False
    plain.model.encoder_weights = None
    size = plain.data.input_size
    candidate = Candidate(plain.model.encoder, (size[0], size[1]), plain.training.batch_size)
    return time_step(candidate, plain, in_channels)
