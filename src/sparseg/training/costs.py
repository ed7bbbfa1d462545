"""Where a run's wall-clock goes, and the cadence that keeps validation and checkpoints cheap.

Every second of a run is booked to one part — ``data`` (reading or indexing a batch and moving
it to the device), ``augment``, ``step`` (forward, loss, backward, optimiser), ``validation``,
``checkpoint`` (writing ``last.ckpt``/``best.ckpt``) — or to ``other`` (set-up, logging).
``step_share`` = step seconds ÷ wall seconds says how much of a budget bought learning.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

COST_PARTS = ("data", "augment", "step", "validation", "checkpoint")
VALIDATION_SHARE = 0.05  # validation may cost at most this share of the training time


class CostClock:
    """Seconds per part, accumulated across epochs (and across a resume via ``seconds``)."""

    def __init__(self, device: torch.device, seconds: dict[str, float] | None = None) -> None:
        self.device = device
        self.seconds = {part: 0.0 for part in COST_PARTS}
        self.seconds.update(seconds or {})

    @contextmanager
    def measure(self, part: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.device.type == "cuda":  # kernels run asynchronously: book them where launched
                torch.cuda.synchronize(self.device)
            self.seconds[part] += time.perf_counter() - start

    def training_seconds(self) -> float:
        return self.seconds["data"] + self.seconds["augment"] + self.seconds["step"]

    def summary(self, wall_seconds: float) -> dict[str, float]:
        """``<part>_seconds`` for each part, ``other_seconds`` and ``step_share``."""
        booked = sum(self.seconds.values())
        summary = {f"{part}_seconds": round(self.seconds[part], 2) for part in COST_PARTS}
        summary["other_seconds"] = round(max(0.0, wall_seconds - booked), 2)
        share = self.seconds["step"] / wall_seconds if wall_seconds > 0 else 0.0
        summary["step_share"] = round(share, 4)
        return summary


@dataclass
class Cadence:
    """When to validate and when to write ``last.ckpt``.

    ``val_every`` ``"auto"``: every epoch without a wall-clock budget (runs stay exactly
    repeatable); with one, every k epochs, k chosen after each validation so that validation
    stays under :data:`VALIDATION_SHARE` of the training time. ``last.ckpt``: every
    ``checkpoint_every`` epochs without a budget, every ``checkpoint_minutes`` with one.
    """

    val_every: int | str
    checkpoint_every: int
    checkpoint_minutes: float
    budgeted: bool

    def validation_interval(
        self, current: int, validation_seconds: float, epoch_training_seconds: float
    ) -> int:
        if self.val_every != "auto":
            return int(self.val_every)
        if not self.budgeted:
            return 1
        if epoch_training_seconds <= 0:
            return current
        wanted = validation_seconds / (VALIDATION_SHARE * epoch_training_seconds)
        return max(1, math.ceil(wanted)) if wanted > 0 else current

    def should_checkpoint(self, epochs_done: int, elapsed: float, last_written: float) -> bool:
        if self.budgeted:
            return elapsed - last_written >= self.checkpoint_minutes * 60
        return epochs_done % self.checkpoint_every == 0
