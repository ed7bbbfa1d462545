"""The sweep's split files: one split for every run, k folds of its non-test images by case."""

from __future__ import annotations

import json
from pathlib import Path

from sparseg.ablation.ladder import load_ladder
from sparseg.ablation.prepare import prepare_splits
from sparseg.data.discovery import discover_items
from tests.ablation.test_ladder import write_ladder
from tests.helpers import write_nifti_cases


def test_ensemble_folds_of_volume_data_keep_each_case_in_one_fold(tmp_path: Path) -> None:
    data = write_nifti_cases(tmp_path / "data", cases=("a", "b", "c", "d", "e", "f"))
    stages = [{"name": "basic"}, {"name": "+ ensemble", "ensemble_folds": 2}]
    ladder = load_ladder(write_ladder(tmp_path, stages))
    splits = prepare_splits(data, None, ladder, tmp_path / "sweep")
    case_of = {item.id: item.group for item in discover_items(data)}
    kfold = json.loads(splits[2].read_text())
    held_out = [{case_of[i] for i in fold["val"]} for fold in kfold["folds"]]
    assert held_out[0] and held_out[1] and not held_out[0] & held_out[1]
    assert not {case_of[i] for i in kfold["test"]} & (held_out[0] | held_out[1])
