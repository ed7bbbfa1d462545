"""Split files as the field writes them: case ids (nnU-Net's ``splits_final.json`` among them)
stand for their volumes' slices."""

from __future__ import annotations

import json

import pytest

from sparseg.data.discovery import discover_items
from sparseg.data.splits import choose_split, load_split
from sparseg.errors import SparsegError
from tests.helpers import write_nifti_cases

CASES = ("patient01", "patient02", "patient03", "patient04")


@pytest.fixture
def volumes(tmp_path):
    """Four NIfTI cases; their items are slices such as ``patient01_z003``."""
    return write_nifti_cases(tmp_path / "data", cases=CASES)


def slices_of(items, *cases: str) -> list[str]:
    return sorted(item.id for item in items if item.group in cases)


def test_nnunet_splits_final_names_cases_and_each_becomes_its_slices(volumes, tmp_path) -> None:
    items = {item.id: item for item in discover_items(volumes)}
    path = tmp_path / "splits_final.json"
    folds = [
        {"train": ["patient01", "patient02", "patient03"], "val": ["patient04"]},
        {"train": ["patient02", "patient03", "patient04"], "val": ["patient01"]},
    ]
    path.write_text(json.dumps(folds))
    split = load_split(path, 1, items)
    assert split.val == slices_of(items.values(), "patient01")
    assert sorted(split.train) == slices_of(items.values(), "patient02", "patient03", "patient04")
    assert split.test == []


def test_our_format_with_case_ids_and_slice_ids_side_by_side(volumes, tmp_path) -> None:
    items = {item.id: item for item in discover_items(volumes)}
    one_slice = slices_of(items.values(), "patient03")[0]
    path = tmp_path / "split.json"
    content = {"train": ["patient01", "patient02"], "val": [one_slice], "test": ["patient04"]}
    path.write_text(json.dumps(content))
    with pytest.raises(SparsegError, match=r"3 id\(s\) not in the data set: 'patient01'"):
        load_split(path, 0, list(items))  # bare ids carry no cases
    cases = {image_id: item.group for image_id, item in items.items()}
    for split in (
        choose_split(items, path, 0, tmp_path / "run/split.json"),
        choose_split(items.keys(), path, 0, tmp_path / "run/split.json", cases=cases),
    ):
        assert split.train == slices_of(items.values(), "patient01", "patient02")
        assert split.val == [one_slice]
        assert split.test == slices_of(items.values(), "patient04")


def test_an_unknown_case_is_still_one_line(volumes, tmp_path) -> None:
    items = {item.id: item for item in discover_items(volumes)}
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"train": ["patient01", "patient07"]}))
    with pytest.raises(SparsegError, match=r": 1 id\(s\) not in the data set: 'patient07'$"):
        load_split(path, 0, items)
