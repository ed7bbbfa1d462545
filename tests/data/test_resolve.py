"""``ItemSelection``: the one resolver of items, split, subset and fold that every command takes."""

from __future__ import annotations

import json

import pytest

from sparseg.config import DataConfig
from sparseg.data.resolve import ItemSelection
from sparseg.data.splits import DefaultSplit, save_split
from sparseg.data.volumes import Slicing
from sparseg.errors import SparsegError
from sparseg.run_layout import RunPaths
from tests.helpers import write_nifti_cases

IDS = [f"img{i:02d}" for i in range(10)]
DEFAULT = DefaultSplit(val_fraction=0.2, test_fraction=0.2, seed=0)


@pytest.fixture
def data(make_dataset):
    return make_dataset(IDS, size=(16, 16))


def test_a_split_file_and_its_fold(data, tmp_path) -> None:
    given = tmp_path / "folds.json"
    folds = [{"train": IDS[2:8], "val": IDS[:2]}, {"train": IDS[:6], "val": IDS[6:8]}]
    save_split({"test": IDS[8:], "folds": folds}, given)
    selection = ItemSelection(data, split_file=given, fold=1)
    assert sorted(selection.items) == IDS
    assert (selection.subset("train"), selection.subset("val")) == (IDS[:6], IDS[6:8])
    assert selection.split(fold=0).val == IDS[:2]
    assert [item.id for item in selection.subset_items("test")] == IDS[8:]
    assert selection.split_path == given


def test_a_run_uses_its_saved_split(data, tmp_path) -> None:
    run = tmp_path / "run"
    save_split({"train": IDS[:5], "val": IDS[5:8], "test": IDS[8:]}, RunPaths(run).split)
    selection = ItemSelection.of_run(run, data, DataConfig())
    assert selection.saved_split == RunPaths(run).split
    assert selection.subset("val") == IDS[5:8]


def test_a_seeded_default_split_is_written_once(data, tmp_path) -> None:
    saved = tmp_path / "sweep" / "split.json"
    first = ItemSelection(data, saved_split=saved, default=DEFAULT).split()
    assert json.loads(saved.read_text())["val"] == first.val
    assert len(first.val) == 2 and len(first.test) == 2
    reseeded = DefaultSplit(val_fraction=0.5, test_fraction=0.1, seed=7)
    assert ItemSelection(data, saved_split=saved, default=reseeded).split() == first
    assert ItemSelection(data, saved_split=saved).split() == first


def test_a_split_file_may_name_the_cases_of_volume_data(tmp_path) -> None:
    root = write_nifti_cases(tmp_path / "data", cases=("p1", "p2", "p3", "p4"))
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"train": ["p1", "p2"], "val": ["p3"], "test": ["p4"]}))
    selection = ItemSelection.of_run(
        tmp_path / "run", root, DataConfig(keep_slices="all"), split_file=path
    )
    val = [item for item in selection.items.values() if item.group == "p3"]
    assert len(val) == 6  # keep_slices=all: every slice of the 6-slice volume
    assert selection.subset("val") == sorted(item.id for item in val)
    assert {selection.cases[i] for i in selection.subset("train")} == {"p1", "p2"}


def test_subset_all_is_every_item_without_a_split(data) -> None:
    assert ItemSelection(data).subset("all") == IDS


def test_an_unknown_subset_is_refused_in_one_line(data) -> None:
    with pytest.raises(SparsegError, match=r"--subset 'everything': expected one of") as error:
        ItemSelection(data).subset("everything")
    assert "\n" not in str(error.value)


def test_without_a_split_file_or_a_saved_split_the_error_asks_for_one(data, tmp_path) -> None:
    with pytest.raises(SparsegError, match=r"pass --split FILE"):
        ItemSelection(data).split()
    with pytest.raises(SparsegError, match=r"split\.json: no split file \(pass --split FILE\)"):
        ItemSelection.of_run(tmp_path / "run", data, DataConfig()).split()


def test_a_fold_folder_resolves_through_its_first_folds_split(data, tmp_path) -> None:
    folder = RunPaths(tmp_path / "cv")
    for index, val in enumerate((IDS[:2], IDS[2:4])):
        fold = folder.fold(index)
        train = [i for i in IDS[:8] if i not in val]
        save_split({"train": train, "val": val, "test": IDS[8:]}, fold.split)
        fold.best.touch()  # a fold that predicts
    selection = ItemSelection.of_run(folder.root, data, DataConfig())
    assert selection.saved_split == folder.fold(0).split
    assert selection.subset("val") == IDS[:2]
    assert selection.subset("test") == IDS[8:]


def test_the_runs_slicing_decides_the_items(tmp_path) -> None:
    root = write_nifti_cases(tmp_path / "data", cases=("p1", "p2"))
    every = ItemSelection(root, slicing=Slicing(keep="all")).items
    assert len(every) == 12 and all(item.is_slice for item in every.values())
    assert (
        ItemSelection.of_run(tmp_path / "run", root, DataConfig(keep_slices="all")).items.keys()
        == every.keys()
    )
