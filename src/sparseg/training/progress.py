"""A rich progress bar for training (epoch, step, loss, best val Dice, ETA); silent when quiet."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from sparseg.training.costs import COST_PARTS


class TrainingProgress:
    """Counts optimiser steps, or seconds when the run has a wall-clock budget."""

    def __init__(
        self, total_steps: int, max_minutes: float | None, quiet: bool, validates: bool = True
    ) -> None:
        """``validates`` False (pretraining): the bar shows the loss without a validation Dice."""
        self.by_time = max_minutes is not None
        self.total = max_minutes * 60 if max_minutes is not None else total_steps
        scores = "loss {task.fields[loss]:.4f}"
        if validates:
            scores += " best val Dice {task.fields[dice]:.4f}"
        self.progress = (
            None
            if quiet
            else Progress(
                TextColumn("epoch {task.fields[epoch]} step {task.fields[step]}"),
                BarColumn(),
                TextColumn(scores),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
        )

    def __enter__(self) -> TrainingProgress:
        if self.progress is not None:
            self.progress.start()
            self.task = self.progress.add_task(
                "train", total=self.total, epoch=0, step=0, loss=0.0, dice=0.0
            )
        return self

    def update(self, step: int, elapsed: float, epoch: int, loss: float, best: float) -> None:
        if self.progress is None:
            return
        completed = elapsed if self.by_time else step
        self.progress.update(
            self.task, completed=completed, epoch=epoch, step=step, loss=loss, dice=max(best, 0.0)
        )

    def note(self, line: str) -> None:
        """A line above the bar (the blank guard's restarts)."""
        if self.progress is not None:
            self.progress.console.print(line)

    def finish(self, summary: dict[str, Any]) -> None:
        """The final line: steps, wall time, each part's share of it, and the blank guard's
        restarts or verdict when there was one."""
        if self.progress is None:
            return
        wall = summary["wall_seconds"] or 1.0
        shares = " · ".join(
            f"{part} {summary[f'{part}_seconds'] / wall:.0%}" for part in (*COST_PARTS, "other")
        )
        restarts = summary.get("restarts") or []  # a pretraining has no blank guard
        guard = f"; restarted {len(restarts)}x, blank at step(s) " if restarts else ""
        guard += ", ".join(str(restart["step"]) for restart in restarts)
        guard += "; BLANK: the network never marked a target" if summary.get("blank") else ""
        self.progress.console.print(
            f"{summary['steps']} steps in {wall:.0f} s ({summary['stop_reason']}): {shares}{guard}"
        )

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.progress is not None:
            self.progress.stop()
