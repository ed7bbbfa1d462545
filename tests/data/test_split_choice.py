"""``choose_split``: the one place that decides which split a command uses."""

from __future__ import annotations

import json

import pytest

from sparseg.data.splits import SUBSETS, DefaultSplit, SplitIds, choose_split, save_split
from sparseg.errors import SparsegError

IDS = [f"img{i:02d}" for i in range(10)]
DEFAULT = DefaultSplit(val_fraction=0.2, test_fraction=0.2, seed=0)


def test_a_given_split_file_wins_and_its_fold_is_used(tmp_path) -> None:
    given = tmp_path / "folds.json"
    folds = [{"train": IDS[2:8], "val": IDS[:2]}, {"train": IDS[:6], "val": IDS[6:8]}]
    save_split({"test": IDS[8:], "folds": folds}, given)
    saved = tmp_path / "run" / "split.json"
    save_split({"train": IDS[:5], "val": IDS[5:8], "test": IDS[8:]}, saved)
    split = choose_split(IDS, given, 1, saved, DEFAULT)
    assert (split.train, split.val, split.test) == (IDS[:6], IDS[6:8], IDS[8:])


def test_the_saved_split_is_used_before_a_default_is_made(tmp_path) -> None:
    saved = tmp_path / "split.json"
    save_split({"train": IDS[:5], "val": IDS[5:8], "test": IDS[8:]}, saved)
    assert choose_split(IDS, None, 0, saved, DEFAULT).val == IDS[5:8]


def test_a_default_split_is_made_and_saved_once(tmp_path) -> None:
    saved = tmp_path / "split.json"
    first = choose_split(IDS, None, 0, saved, DEFAULT)
    assert json.loads(saved.read_text())["val"] == first.val
    assert len(first.val) == 2 and len(first.test) == 2
    assert choose_split(IDS, None, 0, saved, None) == first


def test_without_a_file_or_a_default_the_error_asks_for_split(tmp_path) -> None:
    with pytest.raises(SparsegError, match=r"split\.json: no split file \(pass --split FILE\)"):
        choose_split(IDS, None, 0, tmp_path / "split.json")


@pytest.mark.parametrize("name", SUBSETS)
def test_every_subset_name_selects_ids(name) -> None:
    split = SplitIds(train=IDS[:6], val=IDS[6:8], test=IDS[8:])
    expected = {"train": IDS[:6], "val": IDS[6:8], "test": IDS[8:], "all": IDS}[name]
    assert split.subset(name, reversed(IDS)) == expected


def test_an_unknown_subset_is_one_error_naming_the_choices() -> None:
    split = SplitIds(train=IDS, val=[], test=[])
    with pytest.raises(SparsegError, match=r"--subset 'everything': expected one of test, val"):
        split.subset("everything", IDS)
