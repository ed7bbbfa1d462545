"""Small 3D objects: removed after a volume's slices are put back together."""

from __future__ import annotations

import nibabel as nib
import numpy as np

from sparseg.config import InferenceConfig
from sparseg.data.discovery import discover_items
from sparseg.data.items import read_item_mask
from sparseg.data.volumes import Slicing, volume_plane
from sparseg.inference.mask_files import PredictionWriter
from sparseg.inference.postprocess import remove_small_objects_3d
from tests.helpers import write_nifti_cases


def test_3d_objects_are_26_connected_and_the_size_itself_is_kept():
    volume = np.zeros((6, 6, 6), bool)
    volume[1, 1, 1] = volume[2, 2, 2] = volume[3, 3, 3] = True  # one diagonal object, 3 voxels
    volume[5, 5, 5] = True
    kept = remove_small_objects_3d(volume, 3)
    assert kept.sum() == 3 and not kept[5, 5, 5]
    assert remove_small_objects_3d(volume, 4).sum() == 0
    assert np.array_equal(remove_small_objects_3d(volume, 0), volume)


def test_the_writer_removes_small_3d_objects_across_slices(tmp_path):
    root = write_nifti_cases(tmp_path / "data", cases=("a",))
    items = discover_items(root, slicing=Slicing(keep="all"))
    volume = np.zeros((32, 32, 6), bool)
    volume[4:6, 4:6, 2:4] = True  # 8 voxels over two slices
    volume[20, 20, 3:5] = True  # 2 voxels over two slices
    config = InferenceConfig.model_validate({"postprocess": {"min_object_size_3d": 5}})
    writer = PredictionWriter(tmp_path / "out", inference=config, keep_volumes=True)
    for item in items:
        plane = volume_plane(volume, 2, item.slice_index, nifti=True)
        writer.add(item, plane.astype(np.float32), plane)
    writer.close()
    written = np.asarray(nib.load(tmp_path / "out/a.nii.gz").dataobj).astype(bool)
    expected = volume.copy()
    expected[20, 20, 3:5] = False
    assert np.array_equal(written, expected) and np.array_equal(writer.volumes["a"], expected)
    assert read_item_mask(items[0]).shape == (32, 32)


def test_volume_steps_are_off_by_default():
    from sparseg.inference.finish import finish_volume

    volume = np.zeros((4, 4, 4), bool)
    volume[1, 1, 1] = True
    assert np.array_equal(finish_volume(volume, InferenceConfig()), volume)
    assert np.array_equal(finish_volume(volume, None), volume)
