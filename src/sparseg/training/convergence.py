"""Whether a training had stopped learning when its budget ended, from its ``metrics.csv``.

A run *converged* when the best validation Dice of its last 20 % (of its optimiser steps) is
less than 0.01 above the best before them. Best-so-far, not the last value, so that one noisy
validation neither hides nor fakes progress. Runs validated fewer than twice, or never before
the last 20 %, are undecided (None): a sweep at a budget this short is budget-bound by design.

A run *stalled* when, over more than ten validations, its best validation Dice came in the
first 10 % of its steps and was never beaten after (its ``best.ckpt`` holds a network from the
start of training), or its validation Dice never reached 0.01 (its output never crossed the
threshold on a target), or its Dice on the validation images with a target never did (a blank
network: on data with empty images its validation Dice is the empty share, a flat curve). Each
almost always means the run did not learn (on MS slices: a head whose output never crosses the
threshold, or crosses it everywhere; on usgra_nerve at AdamW 2e-3: a network that found no
nerve at the 0.5 threshold in its whole run).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

LATE_SHARE = 0.2
CONVERGED_BELOW = 0.01
EARLY_SHARE = 0.1
STALLED_AFTER = 10  # validations after the best that never beat it
NEVER_LEARNED_BELOW = 0.01  # best validation Dice of a run that never found a target


def _validations(rows: list[dict[str, str]], column: str = "val_dice") -> list[tuple[float, float]]:
    """``(step, Dice)`` of the rows that were validated (and record ``column``)."""
    validated = []
    for row in rows:
        dice = _number(row.get(column))
        step = _number(row.get("step"))
        if dice is not None and step is not None:
            validated.append((step, dice))
    return validated


def late_gain(rows: list[dict[str, str]]) -> float | None:
    """Best validation Dice of the last :data:`LATE_SHARE` of the steps minus the best before,
    floored at 0; None when that cannot be told (see the module docstring)."""
    validated = _validations(rows)
    if len(validated) < 2:
        return None
    cutoff = (1 - LATE_SHARE) * max(step for step, _ in validated)
    early = [dice for step, dice in validated if step <= cutoff]
    if not early:
        return None
    return max(0.0, max(dice for _, dice in validated) - max(early))


def run_convergence(metrics_csv: Path) -> tuple[float | None, bool | None]:
    """``(late_gain, converged)`` from a run's ``metrics.csv``; (None, None) if it is absent."""
    if not Path(metrics_csv).is_file():
        return None, None
    with open(metrics_csv, newline="", encoding="utf-8") as stream:
        gain = late_gain(list(csv.DictReader(stream)))
    return gain, None if gain is None else gain < CONVERGED_BELOW


def stall_warning(metrics_csv: Path) -> str | None:
    """A one-line warning when the run stalled (module docstring), else None."""
    if not Path(metrics_csv).is_file():
        return None
    with open(metrics_csv, newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    validated = _validations(rows)
    if len(validated) <= STALLED_AFTER:
        return None
    best = max(range(len(validated)), key=lambda index: validated[index][1])  # first of ties
    best_step, best_dice = validated[best]
    last_step = validated[-1][0]
    advice = "the run most likely did not learn (try another seed, a lower training.lr, "
    advice += "training.validation_thresholds or more steps)"
    if best_dice < NEVER_LEARNED_BELOW:
        return (
            f"{metrics_csv}: validation Dice never reached {NEVER_LEARNED_BELOW} in "
            f"{len(validated)} validations (best {best_dice:.3f} at step {best_step:.0f}): "
            + advice
        )
    with_target = [dice for _, dice in _validations(rows, "val_dice_with_target")]
    if with_target and max(with_target) < NEVER_LEARNED_BELOW:
        return (
            f"{metrics_csv}: validation Dice on the images with a target never reached "
            f"{NEVER_LEARNED_BELOW} in {len(with_target)} validations (best "
            f"{max(with_target):.3f}; the {best_dice:.3f} overall is the empty images): " + advice
        )
    if best_step > EARLY_SHARE * last_step or len(validated) - 1 - best < STALLED_AFTER:
        return None
    return (
        f"{metrics_csv}: validation Dice peaked at step {best_step:.0f} of {last_step:.0f} "
        f"({best_dice:.3f}) and never rose in the {len(validated) - 1 - best} validations after: "
        f"best.ckpt is a network from the start of training, so {advice}"
    )


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text not in (None, "") else math.nan
    except ValueError:
        return None
    return None if math.isnan(value) else value
