"""Broken run directories and conflicting command lines through the real CLI: one clear line,
exit 2, and every file the run or an earlier command wrote is left exactly as it was."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sparseg.data.splits import save_split
from tests.helpers import TINY_OVERRIDES
from tests.reliability.support import FIRST_ID, assert_one_line_error, snapshot

SETTINGS = [f"--set={item}" for item in TINY_OVERRIDES]


@pytest.fixture
def earlier_predictions(tmp_path: Path) -> Path:
    """An output folder holding the masks of an earlier predict run."""
    out = tmp_path / "predictions"
    out.mkdir()
    (out / f"{FIRST_ID}.png").write_bytes(b"an earlier mask")
    return out


def predict_fails(run_cli, run: Path, data: Path, out: Path, *fragments: str) -> None:
    before_run, before_out = snapshot(run), snapshot(out)
    result = run_cli("predict", "--run", run, "--input", data / "images", "--out", out)
    assert_one_line_error(result, *fragments)
    assert snapshot(run) == before_run and snapshot(out) == before_out


def with_split(run: Path, data: Path) -> Path:
    """The split.json training leaves in a run (so a resume does not make a new one)."""
    ids = sorted(path.stem for path in (data / "images").iterdir())
    save_split({"train": ids[:16], "val": ids[16:20], "test": ids[20:]}, run / "split.json")
    return run


def truncate(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


# ---------------------------------------------------------------- checkpoints
def test_missing_checkpoint(run_cli, run_copy, dataset, earlier_predictions):
    (run_copy / "best.ckpt").unlink()
    predict_fails(
        run_cli,
        run_copy,
        dataset,
        earlier_predictions,
        f"{run_copy}: no best.ckpt and no saved probabilities.npz (train",
    )


@pytest.mark.parametrize("damage", ["truncated", "random bytes"])
def test_damaged_checkpoint(run_cli, run_copy, dataset, earlier_predictions, damage):
    if damage == "truncated":
        truncate(run_copy / "best.ckpt", 4096)
    else:
        (run_copy / "best.ckpt").write_bytes(os.urandom(2048))
    predict_fails(
        run_cli,
        run_copy,
        dataset,
        earlier_predictions,
        f"{run_copy / 'best.ckpt'}: not a readable sparseg checkpoint",
    )


def test_malformed_inference_json(run_cli, run_copy, dataset, earlier_predictions):
    (run_copy / "inference.json").write_text("{not json")
    predict_fails(
        run_cli,
        run_copy,
        dataset,
        earlier_predictions,
        f"{run_copy / 'inference.json'}: not valid JSON",
    )


def test_resume_from_truncated_last_checkpoint(run_cli, run_copy, dataset):
    with_split(run_copy, dataset)
    truncate(run_copy / "last.ckpt", 100_000)
    before = snapshot(run_copy)
    result = run_cli("train", "--data", dataset, "--out", run_copy, "--resume", "--quiet")
    assert_one_line_error(result, f"{run_copy / 'last.ckpt'}: not a readable sparseg checkpoint")
    assert snapshot(run_copy) == before


def resume_with_other_encoder(run_cli, run: Path, data: Path):
    with_split(run, data)
    return run_cli(
        "train", "--data", data, "--out", run, "--resume", *SETTINGS, "--set=model.encoder=resnet34"
    )


def test_resume_with_another_architecture(run_cli, run_copy, dataset):
    result = resume_with_other_encoder(run_cli, run_copy, dataset)
    assert_one_line_error(
        result,
        f"{run_copy / 'last.ckpt'}: trained with model.encoder=resnet18, "
        "the config asks for resnet34",
    )


def test_failed_resume_keeps_the_run_files(run_cli, run_copy, dataset):
    with_split(run_copy, dataset)
    before = snapshot(run_copy)
    assert resume_with_other_encoder(run_cli, run_copy, dataset).code == 2
    assert snapshot(run_copy) == before


# ---------------------------------------------------------------- run directories
def test_run_directory_that_is_a_file(run_cli, dataset, tmp_path):
    run_file = tmp_path / "run"
    run_file.write_text("not a folder")
    result = run_cli("train", "--data", dataset, "--out", run_file, *SETTINGS, "--quiet")
    assert_one_line_error(result, f"{run_file}: run directory path exists and is a file")
    assert run_file.read_text() == "not a folder"


def test_predict_with_a_file_as_run(run_cli, dataset, tmp_path):
    run_file = tmp_path / "run.txt"
    run_file.write_text("x")
    result = run_cli("predict", "--run", run_file, "--input", dataset, "--out", tmp_path / "p")
    assert_one_line_error(result, f"{run_file}: run directory not found")


def test_training_into_an_existing_run_needs_resume(run_cli, run_copy, dataset):
    before = snapshot(run_copy)
    result = run_cli("train", "--data", dataset, "--out", run_copy, *SETTINGS, "--quiet")
    assert_one_line_error(result, f"{run_copy}: already holds a training run", "--resume")
    assert snapshot(run_copy) == before


def test_resume_without_a_checkpoint(run_cli, dataset, tmp_path):
    result = run_cli("train", "--data", dataset, "--out", tmp_path / "new", "--resume", *SETTINGS)
    assert_one_line_error(result, "new: --resume given but there is no last.ckpt")


# ---------------------------------------------------------------- command line
def test_predict_with_run_and_onnx(run_cli, trained_run, dataset, tmp_path):
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"x")
    result = run_cli(
        "predict", "--run", trained_run, "--onnx", onnx, "--input", dataset, "--out", tmp_path / "p"
    )
    assert_one_line_error(result, "predict: give either --run (one or more) or --onnx, not both")
    assert not (tmp_path / "p").exists()


def test_predict_with_neither_run_nor_onnx(run_cli, dataset, tmp_path):
    result = run_cli("predict", "--input", dataset, "--out", tmp_path / "p")
    assert_one_line_error(result, "give either --run (one or more) or --onnx")


def test_onnx_file_that_is_not_one(run_cli, dataset, tmp_path):
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"garbage, not protobuf")
    result = run_cli("predict", "--onnx", fake, "--input", dataset, "--out", tmp_path / "p")
    assert_one_line_error(result, f"{fake}: not an ONNX model")


def test_fold_that_is_not_a_number(run_cli, dataset, tmp_path):
    result = run_cli("train", "--data", dataset, "--out", tmp_path / "r", "--fold", "abc")
    assert_one_line_error(result, "--fold 'abc': expected a fold number or 'all'")


def test_split_file_with_unknown_ids(run_cli, trained_run, dataset, tmp_path):
    split = tmp_path / "split.json"
    save_split({"train": ["ghost_1"], "val": [FIRST_ID], "test": []}, split)
    result = run_cli("evaluate", "--run", trained_run, "--data", dataset, "--split", split)
    assert_one_line_error(result, f"{split}: 1 id(s) not in the data set", "ghost_1")
