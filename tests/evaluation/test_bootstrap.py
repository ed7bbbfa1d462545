import math

import numpy as np
import pytest

from sparseg.evaluation.bootstrap import percentile_intervals


def mean_of(values):
    return lambda indices: values[indices].mean(axis=-1)


def test_interval_of_a_mean_matches_the_normal_approximation():
    values = np.random.default_rng(0).normal(10.0, 2.0, size=400)
    low, high = percentile_intervals({"mean": mean_of(values)}, len(values), 2000, seed=0)["mean"]
    half_width = 1.96 * values.std() / math.sqrt(len(values))
    assert low < values.mean() < high
    assert (high - low) / 2 == pytest.approx(half_width, rel=0.15)


def test_same_seed_same_interval_and_every_statistic_sees_the_same_draws():
    values = np.random.default_rng(0).random(10)
    statistics = {"a": mean_of(values), "b": mean_of(2 * values)}
    first = percentile_intervals(statistics, 10, 500, seed=7)
    assert first == percentile_intervals(statistics, 10, 500, seed=7)
    assert first["b"] == pytest.approx(tuple(2 * bound for bound in first["a"]))
    assert first != percentile_intervals(statistics, 10, 500, seed=8)


def test_constant_data_has_a_zero_width_interval():
    interval = percentile_intervals({"m": mean_of(np.full(5, 0.25))}, 5, 100)["m"]
    assert interval == (0.25, 0.25)


def test_undefined_resamples_are_dropped_not_propagated():
    values = np.array([np.nan, 1.0, 3.0])

    def defined_mean(indices):
        picked = values[indices]
        count = (~np.isnan(picked)).sum(axis=-1)
        total = np.nansum(picked, axis=-1)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    low, high = percentile_intervals({"m": defined_mean}, 3, 1000, seed=0)["m"]
    assert low == 1.0 and high == 3.0


@pytest.mark.parametrize(("n_items", "resamples"), [(1, 100), (5, 0)])
def test_too_little_to_resample_gives_nan(n_items, resamples):
    low, high = percentile_intervals({"m": mean_of(np.ones(n_items))}, n_items, resamples)["m"]
    assert math.isnan(low) and math.isnan(high)
