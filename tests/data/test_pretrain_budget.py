"""The pretraining budget rule: no split without paying evidence in reach, else its share."""

from __future__ import annotations

from sparseg.data.pretrain_budget import (
    MEASURED_SPLITS,
    REACH,
    MeasuredSplit,
    pretrain_split,
)

PAYS = MeasuredSplit(15, 5, 0.04, 0.01, 0.07, ("usgra_nerve",))
DOES_NOT_PAY = MeasuredSplit(15, 5, 0.01, -0.02, 0.04, ("usgra_nerve", "ms_lesjak_flair"))


def test_without_measurements_the_rule_says_none_and_why() -> None:
    split = pretrain_split(15, [])
    assert (split.pretrain_minutes, split.finetune_minutes) == (0.0, 15)
    assert split.reason.startswith("pretraining: none, all 15 min to fine-tuning")
    assert "no measurement yet" in split.reason


def test_the_shipped_evidence_is_read_by_default() -> None:
    split = pretrain_split(15)
    assert split == pretrain_split(15, MEASURED_SPLITS)
    named = {name for measured in MEASURED_SPLITS for name in measured.data_sets}
    assert all(name in split.reason for name in named)
    paying = [
        m for m in MEASURED_SPLITS if m.low > 0 and 15 / REACH <= m.total_minutes <= 15 * REACH
    ]
    assert (split.pretrain_minutes > 0) == bool(paying)


def test_an_interval_that_straddles_zero_is_none() -> None:
    split = pretrain_split(15, [DOES_NOT_PAY])
    assert split.pretrain_minutes == 0.0
    assert "at 15 min in all, 5 min of pretraining changed test Dice by +0.010" in split.reason
    assert "-0.020 to +0.040" in split.reason and "ms_lesjak_flair" in split.reason


def test_paying_evidence_in_reach_gives_its_share() -> None:
    split = pretrain_split(24, [DOES_NOT_PAY, PAYS])
    assert (split.pretrain_minutes, split.finetune_minutes) == (8.0, 16.0)
    assert "+0.040" in split.reason and "usgra_nerve" in split.reason
    assert split.as_dict()["pretrain_minutes"] == 8.0


def test_evidence_out_of_reach_is_not_stretched() -> None:
    assert pretrain_split(60, [PAYS]).pretrain_minutes == 0.0
    assert pretrain_split(5, [PAYS]).pretrain_minutes == 0.0
