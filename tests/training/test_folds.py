import json

import pytest

from sparseg.errors import SparsegError
from sparseg.training import train_folds
from tests.helpers import tiny_config


def test_fold_all_trains_one_run_per_fold_and_skips_finished_ones(
    synthetic_data, tmp_path, run_cli
) -> None:
    splits = tmp_path / "splits.json"
    result = run_cli(
        "split", synthetic_data, "--folds", 2, "--group-regex", r"^(subj\d+)_", "--out", splits
    )
    assert result.code == 0, result.stderr
    config = tiny_config("training.max_steps=1")
    summaries = train_folds(
        config, synthetic_data, tmp_path / "cv", split_file=splits, fold="all", quiet=True
    )
    assert sorted(summaries) == [str(tmp_path / "cv" / f"fold_{k}") for k in (0, 1)]
    folds = json.loads(splits.read_text())["folds"]
    for k, fold in enumerate(folds):
        used = json.loads((tmp_path / "cv" / f"fold_{k}" / "split.json").read_text())
        assert used["val"] == fold["val"] and used["train"] == fold["train"]
    stamp = (tmp_path / "cv" / "fold_0" / "best.ckpt").stat().st_mtime_ns
    train_folds(
        config,
        synthetic_data,
        tmp_path / "cv",
        split_file=splits,
        fold="all",
        resume=True,
        quiet=True,
    )
    assert (tmp_path / "cv" / "fold_0" / "best.ckpt").stat().st_mtime_ns == stamp


def test_fold_all_needs_a_k_fold_split(synthetic_data, tmp_path) -> None:
    with pytest.raises(SparsegError, match="needs --split"):
        train_folds(tiny_config(), synthetic_data, tmp_path / "cv", fold="all", quiet=True)
    with pytest.raises(SparsegError, match="expected a fold number or 'all'"):
        train_folds(tiny_config(), synthetic_data, tmp_path / "cv", fold="x", quiet=True)
