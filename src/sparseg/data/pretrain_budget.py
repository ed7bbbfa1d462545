"""The budget rule for pretraining: of M minutes in all, how many go to ``sparseg pretrain`` and
how many to fine-tuning, or "none" where pretraining does not pay.

A split is proposed only from measured evidence: a :class:`MeasuredSplit` whose paired gain
(fine-tuned from in-domain weights minus from scratch, at an equal *total* budget, pretraining
minutes counted) has its 95 % interval above zero, measured at a total budget within a factor
of :data:`REACH` of M. The proposal keeps that measurement's share of minutes. Without such
evidence every minute goes to fine-tuning, and the reason line says why.
``benchmarks/pretrain_budget.py`` makes the evidence and prints the entries to add to
:data:`MEASURED_SPLITS`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

REACH = 2.0  # a measurement speaks for budgets from half to twice its own


@dataclass(frozen=True)
class MeasuredSplit:
    """One measured split: at ``total_minutes`` in all, ``pretrain_minutes`` of pretraining
    changed test Dice by ``gain`` (95 % interval ``low`` to ``high``, paired over seeds and
    pooled over ``data_sets``)."""

    total_minutes: float
    pretrain_minutes: float
    gain: float
    low: float
    high: float
    data_sets: tuple[str, ...]

    @property
    def share(self) -> float:
        return self.pretrain_minutes / self.total_minutes


MEASURED_SPLITS: tuple[MeasuredSplit, ...] = (
    MeasuredSplit(15.0, 5.0, -0.0342, -0.0664, -0.0021, ("usgra_nerve",)),
    MeasuredSplit(15.0, 5.0, -0.0101, -0.0132, -0.0069, ("ms_lesjak_flair",)),
)
"""The measurements the rule stands on, as ``benchmarks/pretrain_budget.py`` prints them
(``benchmarks/results/pretrain/summary.md``; per-image test Dice, 3 seeds)."""


@dataclass(frozen=True)
class PretrainSplit:
    """The proposal: ``pretrain_minutes`` (0: none) and ``finetune_minutes`` of ``minutes``, and
    the one-line ``reason`` ``inspect`` prints."""

    minutes: float
    pretrain_minutes: float
    finetune_minutes: float
    reason: str

    def as_dict(self) -> dict[str, float | str]:
        return {
            "minutes": self.minutes,
            "pretrain_minutes": self.pretrain_minutes,
            "finetune_minutes": self.finetune_minutes,
            "reason": self.reason,
        }


def pretrain_split(
    minutes: float, evidence: Sequence[MeasuredSplit] = MEASURED_SPLITS
) -> PretrainSplit:
    """Split ``minutes`` between pretraining and fine-tuning by the nearest paying measurement
    in reach, else propose no pretraining."""
    paying = [
        measured
        for measured in evidence
        if measured.low > 0 and abs(math.log(minutes / measured.total_minutes)) <= math.log(REACH)
    ]
    if not paying:
        return PretrainSplit(minutes, 0.0, minutes, _none_reason(minutes, evidence))
    best = min(paying, key=lambda measured: abs(math.log(minutes / measured.total_minutes)))
    pretrain = round(best.share * minutes, 1)
    reason = (
        f"pretraining: {pretrain:g} of {minutes:g} min ({best.share:.0%}), then "
        f"{minutes - pretrain:g} min fine-tuning: at {best.total_minutes:g} min in all, that share "
        f"gained {best.gain:+.3f} test Dice (95 % interval {best.low:+.3f} to {best.high:+.3f}) "
        f"over training from scratch on {', '.join(best.data_sets)}"
    )
    return PretrainSplit(minutes, pretrain, round(minutes - pretrain, 1), reason)


def _none_reason(minutes: float, evidence: Sequence[MeasuredSplit]) -> str:
    start = f"pretraining: none, all {minutes:g} min to fine-tuning: "
    if not evidence:
        return start + (
            "no measurement yet shows in-domain pretraining paying at an equal total budget "
            "(benchmarks/pretrain_budget.py makes it)"
        )
    measured = "; ".join(
        f"at {m.total_minutes:g} min in all, {m.pretrain_minutes:g} min of pretraining changed "
        f"test Dice by {m.gain:+.3f} (95 % interval {m.low:+.3f} to {m.high:+.3f}) on "
        f"{', '.join(m.data_sets)}"
        for m in evidence
    )
    return start + (
        f"no measured split within a factor {REACH:g} of {minutes:g} min gains beyond noise over "
        f"training from scratch ({measured})"
    )
