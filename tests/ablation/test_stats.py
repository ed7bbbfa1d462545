"""Paired-seed gains and per-stage means against values computed by hand."""

from __future__ import annotations

import math

import pytest

from sparseg.ablation.stats import claim_verdict, mean_std, paired_gain

T_975_DF2 = 4.302652729749464  # Student t, 97.5th percentile, 2 degrees of freedom (tables: 4.303)
T_975_DF3 = 3.182446305284263


def test_paired_gain_matches_the_hand_computed_t_interval() -> None:
    # differences 0.05, 0.02, 0.08: mean 0.05, sample sd 0.03, standard error 0.03 / sqrt(3)
    mean, low, high = paired_gain([0.50, 0.60, 0.70], [0.55, 0.62, 0.78])
    half = T_975_DF2 * 0.03 / math.sqrt(3)
    assert mean == pytest.approx(0.05)
    assert (low, high) == (pytest.approx(0.05 - half), pytest.approx(0.05 + half))
    assert low == pytest.approx(-0.0245241, abs=1e-6)


def test_paired_gain_pairs_by_position_not_by_sorted_values() -> None:
    # differences -0.1, +0.1, -0.1, +0.1 → mean 0, sd 0.11547, se 0.057735
    mean, low, high = paired_gain([0.6, 0.4, 0.6, 0.4], [0.5, 0.5, 0.5, 0.5])
    half = T_975_DF3 * math.sqrt(0.04 / 3) / 2
    assert mean == pytest.approx(0.0, abs=1e-12)
    assert (low, high) == (pytest.approx(-half), pytest.approx(half))


def test_paired_gain_other_confidence_is_narrower() -> None:
    _, low95, high95 = paired_gain([0.5, 0.6, 0.7], [0.55, 0.62, 0.78])
    _, low80, high80 = paired_gain([0.5, 0.6, 0.7], [0.55, 0.62, 0.78], confidence=0.8)
    assert low95 < low80 < high80 < high95


def test_paired_gain_edge_cases() -> None:
    mean, low, high = paired_gain([0.4], [0.7])
    assert mean == pytest.approx(0.3) and math.isnan(low) and math.isnan(high)
    assert paired_gain([0.1, 0.2], [0.3, 0.4]) == pytest.approx((0.2, 0.2, 0.2))
    assert all(math.isnan(v) for v in paired_gain([], []))
    with pytest.raises(ValueError, match="differ in length"):
        paired_gain([0.1, 0.2], [0.3])


def test_mean_std_uses_the_sample_standard_deviation() -> None:
    mean, std = mean_std([0.2, 0.4, 0.6])
    assert mean == pytest.approx(0.4) and std == pytest.approx(0.2)
    mean, std = mean_std([0.7])
    assert mean == 0.7 and math.isnan(std)
    assert all(math.isnan(v) for v in mean_std([]))


@pytest.mark.parametrize(
    ("value", "claim", "verdict"),
    [
        (0.25, (0.2, 0.3), "inside"),
        (0.2, (0.2, 0.3), "inside"),
        (0.19, (0.2, 0.3), "below"),
        (0.31, (0.2, 0.3), "above"),
        (0.5, None, "n/a"),
        (float("nan"), (0.2, 0.3), "n/a"),
    ],
)
def test_claim_verdict(value: float, claim, verdict: str) -> None:
    assert claim_verdict(value, claim) == verdict
