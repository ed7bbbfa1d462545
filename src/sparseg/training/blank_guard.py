"""The blank-network guard: a network that still marks no target once a stated share of its
budget has passed is restarted from fresh weights (another seed, a lower LR) for the rest of the
same budget, and a network that stays blank is never taken for a trained one.

A validation is *blank* when its Dice over the validation images that have a target is below
:data:`BLANK_BELOW` at every threshold tried, the checkpoint's and the validation's blank probes
down to 0.05 alike: the network marks nothing there (every probability under the thresholds) or
marks only the wrong pixels, and on data with empty images its overall Dice sits flat at the
empty share. A network whose logit heads start at the foreground prior marks nothing at 0.5 for
its first steps while it already ranks its targets above the background; the low probes keep
the guard from taking it for a blank one. With no target among the validation images the
overall Dice decides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sparseg.config import BlankGuardConfig

BLANK_BELOW = 0.01
RESTART_SEED_STRIDE = 1_000_003  # restart k trains from seed + k * stride: far from ladder seeds


def is_blank(dice: float, dice_with_target: float) -> bool:
    """Whether a validation scored as ``(Dice, Dice on the images with a target)`` is blank;
    with no target image (nan) the overall Dice decides."""
    return (dice if math.isnan(dice_with_target) else dice_with_target) < BLANK_BELOW


@dataclass(frozen=True)
class Restart:
    """One restart, as ``train_summary.json`` lists it."""

    step: int
    progress: float
    seed: int
    lr_scale: float

    def describe(self) -> str:
        return (
            f"blank at step {self.step} ({self.progress:.0%} of the budget): restarted from "
            f"seed {self.seed} at {self.lr_scale:g}x the LR"
        )


def restart_due(
    config: BlankGuardConfig,
    progress: float,
    started_at: float,
    blank_since_start: bool,
    restarts_so_far: int,
) -> bool:
    """Restart now? When every validation since the network's (re)start at progress
    ``started_at`` was blank, ``config.after`` of the budget has passed since then, and
    restarts are left."""
    return (
        config.enabled
        and blank_since_start
        and progress >= started_at + config.after
        and restarts_so_far < config.max_restarts
    )


def next_restart(
    config: BlankGuardConfig, base_seed: int, step: int, progress: float, restarts_so_far: int
) -> Restart:
    """The seed and LR scale of the next restart."""
    number = restarts_so_far + 1
    return Restart(
        step=step,
        progress=round(progress, 4),
        seed=base_seed + number * RESTART_SEED_STRIDE,
        lr_scale=config.lr_factor**number,
    )
