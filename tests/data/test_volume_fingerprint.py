"""``sparseg inspect`` on volumes: cases, slices, spacing, 3D lesions, and the proposal."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from sparseg.config import validate_config
from sparseg.data.fingerprint import Fingerprint, MinMedianMax, fingerprint, format_fingerprint
from sparseg.data.plan import plan_overrides, propose_config
from tests.helpers import write_nifti_cases


def test_volume_fingerprint_counts_cases_slices_and_3d_lesions(tmp_path):
    root = write_nifti_cases(tmp_path / "data", cases=("a", "b"), channels=2)
    fp = fingerprint(root)
    volumes = fp.volumes
    assert volumes is not None
    assert volumes.n_cases == 2 and volumes.slice_axis == {"2": 2}
    assert volumes.slices_per_case == MinMedianMax(min=5, median=5.0, max=5)
    assert volumes.spacing_mm == pytest.approx((0.8, 0.8, 2.5))
    assert volumes.channels == {"2": 2}
    voxel_ml = 0.8 * 0.8 * 2.5 / 1000
    lesion_ml, empty, kept = [], 0, 0
    for row, case in zip(volumes.cases, ("a", "b"), strict=True):
        mask = np.asarray(nib.load(root / f"labelsTr/{case}.nii.gz").dataobj) > 0
        labelled, count = ndimage.label(mask, structure=np.ones((3, 3, 3)))
        assert row.case == case and row.lesions == count and row.slices_total == 6
        assert row.lesion_ml == pytest.approx(mask.sum() * voxel_ml)
        lesion_ml += (np.bincount(labelled.ravel())[1:] * voxel_ml).tolist()
        empty += int((~mask[:, :, 1:].any(axis=(0, 1))).sum())
        kept += 5
    assert volumes.lesion_volume_ml is not None
    assert volumes.lesion_volume_ml.median == pytest.approx(np.median(lesion_ml))
    assert volumes.empty_slice_share == pytest.approx(empty / kept)
    text = format_fingerprint(fp)
    assert "volumes (cases)" in text and "lesions per volume" in text
    assert Fingerprint.from_json(json.loads(json.dumps(fp.to_json()))) == fp


def test_the_proposal_names_the_slice_axis(tmp_path):
    root = write_nifti_cases(tmp_path / "data", cases=("a",), affine=np.diag([3.0, 1, 1, 1]))
    fp = fingerprint(root)
    plan = propose_config(fp, cpu_only=True)
    assert plan["data"]["slice_axis"] == 0 and plan["data"]["keep_slices"] == "nonzero"
    assert fp.volumes is not None and fp.volumes.lesion_voxels_p5 is not None
    smallest = fp.volumes.lesion_voxels_p5
    assert plan["inference"]["postprocess"]["min_object_size_3d"] == int(smallest // 2)
    validate_config(plan_overrides(plan))
    assert any(
        reason.startswith("slice_axis 0: the lowest-resolution axis") for reason in plan["reasons"]
    )


def test_2d_data_has_no_volume_section(make_dataset):
    assert fingerprint(make_dataset(["a", "b"])).volumes is None
