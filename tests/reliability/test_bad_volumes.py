"""Bad volume data through the real CLI: one clear line naming the file, exit 2, no traceback."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np

from tests.helpers import VOLUME_AFFINE, write_nifti_cases
from tests.reliability.support import assert_one_line_error, snapshot


def inspect_fails(run_cli, data, *fragments: str) -> str:
    before = snapshot(data)
    line = assert_one_line_error(run_cli("inspect", data), *fragments)
    assert snapshot(data) == before
    return line


def test_mask_volume_of_another_shape(run_cli, tmp_path):
    data = write_nifti_cases(tmp_path / "data", cases=("a", "b"))
    mask = data / "labelsTr/b.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((32, 32, 5), np.uint8), np.asarray(VOLUME_AFFINE)), mask)
    inspect_fails(run_cli, data, f"{mask}: mask volume is 32x32x5 but b_0000.nii.gz is 32x32x6")


def test_channel_missing_for_one_case(run_cli, tmp_path):
    data = write_nifti_cases(tmp_path / "data", cases=("a", "b"), channels=2)
    (data / "imagesTr/b_0001.nii.gz").unlink()
    inspect_fails(
        run_cli, data, f"{data / 'imagesTr/b_0001.nii.gz'}: channel file missing for case 'b'"
    )


def test_channel_of_another_size(run_cli, tmp_path):
    data = write_nifti_cases(tmp_path / "data", cases=("a", "b"), channels=2)
    channel = data / "imagesTr/a_0001.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((32, 30, 6), np.float32), np.eye(4)), channel)
    inspect_fails(run_cli, data, f"{channel}: channel volume is 32x30x6 but a_0000.nii.gz")


def test_4d_file(run_cli, tmp_path):
    data = write_nifti_cases(tmp_path / "data", cases=("a", "b"))
    image = data / "imagesTr/a_0000.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((32, 32, 6, 3), np.float32), np.eye(4)), image)
    inspect_fails(run_cli, data, f"{image}: 4D NIfTI of shape 32x32x6x3", "one contrast per file")


def test_nii_gz_that_is_not_nifti(run_cli, tmp_path):
    data = write_nifti_cases(tmp_path / "data", cases=("a", "b"))
    plain = data / "imagesTr/a_0000.nii.gz"
    plain.write_bytes(b"this is a text file, not a volume\n" * 20)
    inspect_fails(run_cli, data, f"{plain}: not a NIfTI file")
    packed = data / "imagesTr/b_0000.nii.gz"
    plain.unlink()
    write_nifti_cases(tmp_path / "data", cases=("a",))
    packed.write_bytes(gzip.compress(b"\x00garbage" * 100))
    inspect_fails(run_cli, data, f"{packed}: not a NIfTI file")


def test_truncated_nifti(run_cli, tmp_path):
    data = write_nifti_cases(tmp_path / "data", cases=("a", "b"))
    image = data / "imagesTr/a_0000.nii.gz"
    image.write_bytes(image.read_bytes()[: len(image.read_bytes()) // 2])
    inspect_fails(run_cli, data, f"{image}: ")
