"""Statistics over seeds: mean ± std per stage and paired-seed gains with Student-t intervals."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

NAN = float("nan")


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1); std is nan for fewer than two values."""
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        return NAN, NAN
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else NAN


def paired_gain(
    previous: Sequence[float], current: Sequence[float], confidence: float = 0.95
) -> tuple[float, float, float]:
    """Mean of ``current - previous`` over paired seeds, with its Student-t interval.

    Returns ``(mean, low, high)``; the interval is nan with fewer than two pairs, and collapses to
    the mean when every paired difference is the same (no spread to estimate).
    """
    before, after = np.asarray(previous, dtype=float), np.asarray(current, dtype=float)
    if before.shape != after.shape:
        raise ValueError(f"paired values differ in length: {before.size} vs {after.size}")
    if before.size == 0:
        return NAN, NAN, NAN
    differences = after - before
    mean = float(differences.mean())
    if before.size < 2:
        return mean, NAN, NAN
    if np.allclose(differences, differences[0], rtol=0.0, atol=1e-12):
        return mean, mean, mean
    interval = stats.ttest_rel(after, before).confidence_interval(confidence)
    return mean, float(interval.low), float(interval.high)


def claim_verdict(value: float, claim: tuple[float, float] | None) -> str:
    """Where a measured mean lies relative to a claimed [low, high] range."""
    if claim is None or value is None or math.isnan(value):
        return "n/a"
    low, high = claim
    if value < low:
        return "below"
    return "above" if value > high else "inside"


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean with the Student-t interval of the mean; the interval is nan for one value."""
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        return NAN, NAN, NAN
    mean = float(array.mean())
    if array.size < 2:
        return mean, NAN, NAN
    half = float(stats.t.ppf(0.5 + confidence / 2, array.size - 1) * stats.sem(array))
    return mean, mean - half, mean + half
