"""Percentile bootstrap over images, seeded, for statistics that may be undefined on a resample.

Hand-written rather than ``scipy.stats.bootstrap``: scipy returns ``nan`` for the whole interval as
soon as one resample's statistic is ``nan`` (e.g. a resample with no non-empty ground truth),
whereas here such resamples are dropped and the interval comes from the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

# Statistic of resampled images: an index matrix (resamples, n_images) → one value per resample.
Statistic = Callable[[np.ndarray], np.ndarray]

_CHUNK = 256  # resamples drawn per chunk, so memory stays at 256 × n_images indices


def percentile_intervals(
    statistics: Mapping[str, Statistic],
    n_items: int,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, tuple[float, float]]:
    """``confidence`` percentile intervals of each statistic over ``resamples`` draws of
    ``n_items`` indices with replacement; every statistic sees the same draws.

    A statistic whose every resample is ``nan``, fewer than 2 items, or ``resamples == 0`` gives
    ``(nan, nan)``.
    """
    nan_interval = (float("nan"), float("nan"))
    if resamples <= 0 or n_items < 2:
        return {name: nan_interval for name in statistics}
    rng = np.random.default_rng(seed)
    values: dict[str, list[np.ndarray]] = {name: [] for name in statistics}
    for start in range(0, resamples, _CHUNK):
        indices = rng.integers(0, n_items, size=(min(_CHUNK, resamples - start), n_items))
        for name, statistic in statistics.items():
            values[name].append(statistic(indices))
    tail = 100.0 * (1.0 - confidence) / 2.0
    intervals = {}
    for name, chunks in values.items():
        distribution = np.concatenate(chunks)
        distribution = distribution[~np.isnan(distribution)]
        if distribution.size == 0:
            intervals[name] = nan_interval
            continue
        low, high = np.percentile(distribution, [tail, 100.0 - tail])
        intervals[name] = (float(low), float(high))
    return intervals
