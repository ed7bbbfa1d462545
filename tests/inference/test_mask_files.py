"""Prediction inputs and outputs on disk: a flat folder of nnU-Net channel files (what
``nnUNetv2_predict -i`` takes) is grouped by case, as an ``imagesTr/`` folder is."""

from __future__ import annotations

import shutil

import nibabel as nib
import numpy as np
from PIL import Image

from sparseg.inference.mask_files import prediction_inputs
from tests.helpers import write_nifti_cases
from tests.reliability.support import write_run


def test_a_flat_folder_of_channel_files_is_grouped_by_case(tmp_path) -> None:
    data = write_nifti_cases(tmp_path / "data", cases=("patient26", "patient27"), channels=3)
    flat = shutil.copytree(data / "imagesTr", tmp_path / "flat")
    items, _ = prediction_inputs(flat, tmp_path / "out")
    assert {item.group for item in items} == {"patient26", "patient27"}
    names = [path.name for path in items[0].files]
    assert names == ["patient26_0000.nii.gz", "patient26_0001.nii.gz", "patient26_0002.nii.gz"]


def test_numbered_frames_are_not_channels(tmp_path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for number in (1, 2, 3):  # ffmpeg's frame_%04d starts at 1
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / f"frame_{number:04d}.png")
    items, _ = prediction_inputs(folder, tmp_path / "out")
    assert [item.id for item in items] == ["frame_0001", "frame_0002", "frame_0003"]
    assert all(len(item.files) == 1 for item in items)


def test_predict_on_a_flat_channel_folder_writes_one_volume_per_case(run_cli, tmp_path) -> None:
    run = write_run(tmp_path / "run", "data.input_size=[32, 32]")
    data = write_nifti_cases(tmp_path / "data", cases=("patient26", "patient27"))
    flat = shutil.copytree(data / "imagesTr", tmp_path / "flat")
    result = run_cli("predict", "--run", run, "--input", flat, "--out", tmp_path / "masks")
    assert result.code == 0, result.stderr
    for case in ("patient26", "patient27"):
        written = nib.load(tmp_path / f"masks/{case}.nii.gz")
        assert written.shape == nib.load(flat / f"{case}_0000.nii.gz").shape
