"""Volumes end to end: train a few steps on a tiny NIfTI folder (two channels), predict, get
NIfTI masks back with the input's affine; evaluate and score add per-volume metrics; ONNX
writes the same volumes as PyTorch."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from sparseg.inference.predictor import Predictor
from sparseg.training import train
from tests.helpers import tiny_config, write_nifti_cases

CASES = ("a", "b", "c", "d")


@pytest.fixture(scope="module")
def volume_data(tmp_path_factory):
    return write_nifti_cases(tmp_path_factory.mktemp("volumes") / "data", CASES, channels=2)


@pytest.fixture(scope="module")
def volume_run(volume_data, tmp_path_factory):
    run = tmp_path_factory.mktemp("volume_run") / "run"
    config = tiny_config(
        "data.input_size=[32, 32]",
        "training.max_steps=3",
        "data.val_fraction=0.25",
        "data.test_fraction=0.25",
    )
    train(config, volume_data, run, quiet=True)
    return run


def test_training_splits_by_case_and_sees_every_channel(volume_run):
    split = json.loads((volume_run / "split.json").read_text())
    cases = {name: {i.rsplit("_z", 1)[0] for i in split[name]} for name in split}
    assert all(len(cases[name]) == 1 for name in ("val", "test")) and len(cases["train"]) == 2
    assert not (cases["train"] & cases["val"]) and not (cases["train"] & cases["test"])
    assert Predictor([volume_run]).in_channels == 2


def test_tune_decides_small_3d_object_removal_on_the_validation_volume(
    volume_run, volume_data, run_cli
):
    result = run_cli("tune", "--run", volume_run, "--data", volume_data)
    assert result.code == 0, result.stderr
    payload = json.loads((volume_run / "inference.json").read_text())
    (row,) = [r for r in payload["decisions"] if r["step"].startswith("remove small 3D objects")]
    size = payload["inference"]["postprocess"]["min_object_size_3d"]
    assert row["kept"] == (row["dice_with"] > row["dice_without"] + 1e-3)
    assert (size > 0) == row["kept"]


def test_predict_writes_one_nifti_per_case_with_the_input_affine(
    volume_run, volume_data, tmp_path, run_cli
):
    out = tmp_path / "pred"
    result = run_cli(
        "predict",
        "--run",
        volume_run,
        "--input",
        volume_data / "imagesTr",
        "--out",
        out,
        "--probabilities",
    )
    assert result.code == 0, result.stderr
    assert sorted(p.name for p in out.glob("*.nii.gz")) == [f"{c}.nii.gz" for c in CASES]
    for case in CASES:
        source = nib.load(volume_data / f"imagesTr/{case}_0000.nii.gz")
        mask = nib.load(out / f"{case}.nii.gz")
        assert mask.shape == source.shape and np.array_equal(mask.affine, source.affine)
        assert mask.get_data_dtype() == np.uint8
        assert set(np.unique(np.asarray(mask.dataobj))) <= {0, 1}
        assert not np.asarray(mask.dataobj)[..., 0].any()  # the all-zero slice is not predicted
        probability = nib.load(out / f"probabilities/{case}.nii.gz")
        assert probability.get_data_dtype() == np.float32
        assert np.array_equal(probability.affine, source.affine)


def test_evaluate_and_score_report_per_volume_metrics_beside_the_slices(
    volume_run, volume_data, tmp_path, run_cli
):
    result = run_cli("evaluate", "--run", volume_run, "--data", volume_data, "--subset", "all")
    assert result.code == 0, result.stderr
    assert "3D Dice" in result.stdout
    folder = volume_run / "eval_all"
    metrics = json.loads((folder / "metrics.json").read_text())
    volumes = metrics["volumes"]
    assert volumes["n_volumes"] == 4 and len(volumes["per_volume"]) == 4
    assert {"dice_3d_pooled", "lesion_f1_pooled", "hd95_mm_mean"} <= set(volumes)
    assert "any of its voxels" in volumes["lesion_matching"]
    assert (folder / "metrics_per_volume.csv").is_file()
    assert metrics["n_images"] == 4 * 5  # the slices, scored as ever

    scored = run_cli("score", "--pred", folder / "masks", "--data", volume_data)
    assert scored.code == 0, scored.stderr
    out = tmp_path / "scored"
    run_cli("score", "--pred", folder / "masks", "--data", volume_data, "--out", out)
    again = json.loads((out / "metrics.json").read_text())["volumes"]
    assert again["dice_3d_pooled"] == volumes["dice_3d_pooled"]
    assert again["lesion_f1_pooled"] == volumes["lesion_f1_pooled"]

    report = tmp_path / "report.html"
    drawn = run_cli("report", "--run", volume_run, "--data", volume_data, "--out", report)
    assert drawn.code == 0, drawn.stderr
    html = report.read_text()
    assert "not found" not in html and html.count('class="case"') >= 1  # slices of the volumes


def test_onnx_predict_writes_the_same_volumes(volume_run, volume_data, tmp_path, run_cli):
    onnx = tmp_path / "model.onnx"
    assert run_cli("export", "--run", volume_run, "--onnx", onnx).code == 0
    images = volume_data / "imagesTr"
    torch_out, onnx_out = tmp_path / "torch", tmp_path / "onnx"
    assert run_cli("predict", "--run", volume_run, "--input", images, "--out", torch_out).code == 0
    assert run_cli("predict", "--onnx", onnx, "--input", images, "--out", onnx_out).code == 0
    for case in CASES:
        torch_mask = nib.load(torch_out / f"{case}.nii.gz")
        onnx_mask = nib.load(onnx_out / f"{case}.nii.gz")
        assert np.array_equal(torch_mask.affine, onnx_mask.affine)
        assert np.array_equal(np.asarray(torch_mask.dataobj), np.asarray(onnx_mask.dataobj))
