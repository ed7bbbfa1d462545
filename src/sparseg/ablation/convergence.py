"""Whether a training had stopped learning when its budget ended, from its ``metrics.csv``.

A run *converged* when the best validation Dice of its last 20 % (of its optimiser steps) is
less than 0.01 above the best before them. Best-so-far, not the last value, so that one noisy
validation neither hides nor fakes progress. Runs validated fewer than twice, or never before
the last 20 %, are undecided (None): a sweep at a budget this short is budget-bound by design.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

LATE_SHARE = 0.2
CONVERGED_BELOW = 0.01


def late_gain(rows: list[dict[str, str]]) -> float | None:
    """Best validation Dice of the last :data:`LATE_SHARE` of the steps minus the best before,
    floored at 0; None when that cannot be told (see the module docstring)."""
    validated = []
    for row in rows:
        dice = _number(row.get("val_dice"))
        step = _number(row.get("step"))
        if dice is not None and step is not None:
            validated.append((step, dice))
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


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text not in (None, "") else math.nan
    except ValueError:
        return None
    return None if math.isnan(value) else value
