"""Learning-rate schedule (warm-up, then constant / cosine / poly over the run, or
reduce-on-plateau) and the progressive-resizing scale, both functions of the run's progress.

Written by hand because the run's length may be a wall-clock budget, not a step count: the
schedule is a function of *progress* in [0, 1] (steps or elapsed time, whichever ends first),
which torch's step-counted schedulers cannot express; and torch's ReduceLROnPlateau has no cap
on the number of reductions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from sparseg.config import ProgressiveConfig, TrainingConfig


@dataclass
class PlateauState:
    best: float = -math.inf
    bad_validations: int = 0
    reductions: int = 0
    factor: float = 1.0


class LRSchedule:
    """Sets every param group's LR from the run's progress and, for plateau, validation Dice."""

    def __init__(self, config: TrainingConfig, warmup_progress: float) -> None:
        self.config = config
        self.warmup_progress = min(max(warmup_progress, 0.0), 1.0)
        self.plateau = PlateauState()

    def factor(self, progress: float) -> float:
        """LR multiplier at ``progress`` (0 = start, 1 = end of the run)."""
        cfg = self.config
        progress = min(max(progress, 0.0), 1.0)
        if progress < self.warmup_progress:
            return cfg.warmup_factor
        if cfg.schedule == "cosine":
            span = 1.0 - self.warmup_progress
            t = (progress - self.warmup_progress) / span if span > 0 else 1.0
            floor = cfg.min_lr_factor
            return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))
        if cfg.schedule == "poly":
            span = 1.0 - self.warmup_progress
            t = (progress - self.warmup_progress) / span if span > 0 else 1.0
            return (1.0 - t) ** cfg.poly_exponent
        if cfg.schedule == "plateau":
            return self.plateau.factor
        return 1.0

    def apply(self, optimizer: Any, progress: float, scale: float = 1.0) -> float:
        """Set and return ``lr · factor(progress) · scale`` (``scale``: the blank guard's)."""
        lr = self.config.lr * self.factor(progress) * scale
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def observe(self, val_dice: float) -> None:
        """Plateau only: count validations without improvement; reduce the LR, at most N times."""
        if self.config.schedule != "plateau":
            return
        state = self.plateau
        if val_dice > state.best:
            state.best, state.bad_validations = val_dice, 0
            return
        state.bad_validations += 1
        if (
            state.bad_validations >= self.config.plateau_patience
            and state.reductions < self.config.max_lr_reductions
        ):
            state.factor *= self.config.plateau_factor
            state.reductions += 1
            state.bad_validations = 0

    def state_dict(self) -> dict[str, float | int]:
        return asdict(self.plateau)

    def load_state_dict(self, state: dict[str, float | int]) -> None:
        self.plateau = PlateauState(**state)  # type: ignore[arg-type]


def run_length(
    config: TrainingConfig, loader_batches: int, mode: str
) -> tuple[int, int, LRSchedule]:
    """Batches per epoch, total optimiser steps and the LR schedule of a run whose loader has
    ``loader_batches`` batches (``steps_per_epoch`` caps resize-mode epochs; patch mode sized
    its data set by it)."""
    per_epoch = loader_batches
    if config.steps_per_epoch is not None and mode == "resize":
        per_epoch = min(per_epoch, config.steps_per_epoch)
    accumulate = config.accumulate_grad_batches
    total_steps = max(1, config.max_epochs * per_epoch // accumulate)
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    warmup = config.warmup_fraction
    if warmup is None:
        warmup = config.warmup_epochs * per_epoch / accumulate / total_steps
    return per_epoch, total_steps, LRSchedule(config, warmup)


def progressive_scale(config: ProgressiveConfig | None, progress: float) -> float:
    """Input-size factor at ``progress`` (the LR schedule's): ``start_scale`` until
    ``until_fraction`` of the run, then 1; always 1 without ``training.progressive``."""
    if config is None or progress >= config.until_fraction:
        return 1.0
    return config.start_scale
