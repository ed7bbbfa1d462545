from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sparseg.data.discovery import discover_items
from sparseg.data.splits import SplitIds, default_split, load_split, make_splits, save_split
from sparseg.errors import SparsegError

IDS = [f"img{i:02d}" for i in range(20)]
# 6 subjects with 1..6 frames each: 21 ids
FRAMES = [f"{subject:02d}_{frame}" for subject in range(6) for frame in range(subject + 1)]
USGRA = Path("/work/shared/data/usgra_nerve")


def subject(id_: str) -> str:
    return id_.split("_")[0]


def starts(path: Path, problem: str) -> str:
    return "^" + re.escape(f"{path}: {problem}")


# ---------------------------------------------------------------- make_splits
def test_kfold_partitions_the_ids():
    splits = make_splits(IDS, folds=5, test_fraction=0.15, seed=0, group_regex=None)
    assert len(splits["test"]) == 3  # round(20 * 0.15)
    rest = sorted(set(IDS) - set(splits["test"]))
    assert sorted(id_ for fold in splits["folds"] for id_ in fold["val"]) == rest
    assert sorted(len(fold["val"]) for fold in splits["folds"]) == [3, 3, 3, 4, 4]
    for fold in splits["folds"]:
        assert sorted(fold["train"] + fold["val"]) == rest
        assert fold["train"] == sorted(fold["train"])


def test_kfold_is_deterministic_per_seed_and_independent_of_input_order():
    first = make_splits(IDS, 4, 0.15, seed=3, group_regex=None)
    assert make_splits(IDS[::-1], 4, 0.15, seed=3, group_regex=None) == first
    assert make_splits(IDS, 4, 0.15, seed=4, group_regex=None) != first


def test_grouped_kfold_keeps_subjects_together():
    splits = make_splits(FRAMES, folds=2, test_fraction=0.2, seed=0, group_regex=r"^(\d+)_")
    test_subjects = {subject(i) for i in splits["test"]}
    assert test_subjects and len(splits["test"]) >= round(21 * 0.2)
    for fold in splits["folds"]:
        train, val = {subject(i) for i in fold["train"]}, {subject(i) for i in fold["val"]}
        assert not train & val and not (train | val) & test_subjects
        assert sorted(fold["train"] + fold["val"] + splits["test"]) == sorted(FRAMES)


def test_regex_without_group_uses_the_whole_match():
    splits = make_splits(FRAMES, folds=2, test_fraction=0.0, seed=0, group_regex=r"^\d+")
    assert splits["test"] == []
    val_subjects = [{subject(i) for i in fold["val"]} for fold in splits["folds"]]
    assert not val_subjects[0] & val_subjects[1]
    # six subjects of 1..6 frames, largest first into the lighter fold: 6+3+2 = 11 vs 5+4+1 = 10
    assert sorted(len(fold["val"]) for fold in splits["folds"]) == [10, 11]


def test_ids_not_matching_the_regex():
    with pytest.raises(SparsegError, match=r"1 id\(s\) do not match, e\.g\. 'stray'"):
        make_splits([*FRAMES, "stray"], 2, 0.2, 0, r"^(\d+)_")
    with pytest.raises(SparsegError, match="invalid regex"):
        make_splits(FRAMES, 2, 0.2, 0, r"^(\d+")


def test_make_splits_bad_arguments():
    with pytest.raises(SparsegError, match="at least 2 folds"):
        make_splits(IDS, 1, 0.2, 0, None)
    with pytest.raises(SparsegError, match=r"need at least 6 subjects .* found 3"):
        make_splits(["01_a", "02_a", "03_a"], 5, 0.2, 0, r"^(\d+)_")
    with pytest.raises(SparsegError, match="'a' appears more than once"):
        make_splits(["a", "b", "a"], 2, 0.0, 0, None)
    with pytest.raises(SparsegError, match=r"--test-fraction: 1\.0 is not in \[0, 1\)"):
        make_splits(IDS, 2, 1.0, 0, None)


# ---------------------------------------------------------------- default_split
def test_default_split_sizes():
    split = default_split(IDS, val_fraction=0.2, test_fraction=0.15, seed=0, group_regex=None)
    assert (len(split["train"]), len(split["val"]), len(split["test"])) == (13, 4, 3)
    assert sorted(split["train"] + split["val"] + split["test"]) == IDS
    assert default_split(IDS, 0.2, 0.15, 0, None) == split


def test_default_split_grouped():
    split = default_split(FRAMES, 0.2, 0.2, seed=1, group_regex=r"^(\d+)_")
    parts = [{subject(i) for i in split[key]} for key in ("train", "val", "test")]
    assert all(parts) and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])


def test_default_split_too_few_ids():
    with pytest.raises(SparsegError, match="need at least 3 subjects"):
        default_split(["a", "b"], 0.2, 0.15, 0, None)


# ---------------------------------------------------------------- files
def test_save_and_load_both_formats(tmp_path):
    kfold = make_splits(IDS, 3, 0.15, 0, None)
    save_split(kfold, tmp_path / "splits.json")
    assert json.loads((tmp_path / "splits.json").read_text()) == kfold
    loaded = load_split(tmp_path / "splits.json", fold=2, known_ids=IDS)
    assert loaded == SplitIds(kfold["folds"][2]["train"], kfold["folds"][2]["val"], kfold["test"])

    simple = {"train": ["img00", "img01"], "val": ["img02"], "test": ["img03"]}
    save_split(simple, tmp_path / "simple.json")
    assert load_split(tmp_path / "simple.json", 0, IDS) == SplitIds(
        ["img00", "img01"], ["img02"], ["img03"]
    )


def test_simple_format_without_test_key(tmp_path):
    save_split({"train": ["img00"], "val": ["img01"]}, tmp_path / "s.json")
    assert load_split(tmp_path / "s.json", 0, IDS).test == []


def write(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "split.json"
    path.write_text(json.dumps(content) if not isinstance(content, str) else content)
    return path


@pytest.mark.parametrize(
    ("content", "fold", "problem"),
    [
        ("{not json", 0, "not valid JSON"),
        ([["img00"]], 0, "not a split file"),
        (
            {"folds": [{"train": ["img00"], "val": []}] * 3},
            3,
            "fold 3 out of range (the file has 3 folds, 0 to 2)",
        ),
        ({"folds": "abc"}, 0, "'folds' must be a list"),
        ({"folds": [{"val": ["img00"]}]}, 0, "missing key 'folds[0].train'"),
        ({"train": ["img00"], "val": []}, 1, "fold 1 asked for, but this split file has no folds"),
        ({"train": "img00", "val": []}, 0, "'train' must be a list of id strings"),
        (
            {"train": ["img00", "ghost", "zz", "aa", "bb"]},
            0,
            "4 id(s) not in the data set: 'aa', 'bb', 'ghost' ...",
        ),
        ({"train": ["img00", "img01"], "val": ["img01"]}, 0, "id 'img01' is in both train and val"),
        (
            {"train": ["img00"], "val": ["img02"], "test": ["img02"]},
            0,
            "id 'img02' is in both val and test",
        ),
        ({"train": [], "val": ["img01"]}, 0, "the train list is empty"),
    ],
)
def test_load_split_errors(tmp_path, content, fold, problem):
    path = write(tmp_path, content)
    with pytest.raises(SparsegError, match=starts(path, problem)):
        load_split(path, fold, IDS)


def test_load_split_missing_file(tmp_path):
    with pytest.raises(SparsegError, match=starts(tmp_path / "none.json", "file not found")):
        load_split(tmp_path / "none.json", 0, IDS)


@pytest.mark.skipif(not USGRA.is_dir(), reason=f"{USGRA} not present on this machine")
def test_usgra_split_file_loads():
    ids = [item.id for item in discover_items(USGRA)]
    split = load_split(USGRA / "split.json", 0, ids)
    assert (len(split.train), len(split.val), len(split.test)) == (174, 30, 40)
