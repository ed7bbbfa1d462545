"""Volumes and stacks as cases of 2D slices: slicing, reassembly, channels, keep rules."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pydicom
import pytest
import tifffile
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from sparseg.data.discovery import discover_items, list_images
from sparseg.data.io import to_unit_float
from sparseg.data.items import item_info, read_item_image, read_item_mask, thin_empty_slices
from sparseg.data.splits import default_split, make_splits
from sparseg.data.volumes import Slicing, assemble, volume_info
from sparseg.inference.mask_files import PredictionWriter
from tests.helpers import VOLUME_AFFINE, write_nifti_cases


def test_slices_reassemble_bit_exactly_and_the_written_mask_keeps_affine_and_header(tmp_path):
    root = write_nifti_cases(tmp_path / "data", cases=("a",))
    source = nib.load(root / "imagesTr/a_0000.nii.gz")
    items = discover_items(root, slicing=Slicing(keep="all"))
    assert [p.id for p in items] == [f"a_z{i:03d}" for i in range(6)]
    assert {p.group for p in items} == {"a"}
    info = volume_info(items[0].image)
    image = assemble(
        {p.slice_index: read_item_image(p)[..., 0] for p in items}, info, 2, np.float32
    )
    assert np.array_equal(image, np.asarray(source.dataobj))
    # the convention: the voxel plane turned 90° counter-clockwise (anterior up in RAS+)
    assert np.array_equal(read_item_image(items[3])[..., 0], np.rot90(image[:, :, 3]))
    assert item_info(items[0]).height == 32 and item_info(items[0]).channels == 1

    writer = PredictionWriter(tmp_path / "out")
    for item in items:
        writer.add(item, np.zeros((32, 32), np.float32), read_item_mask(item))
    assert writer.close() == ["a"]
    written = nib.load(tmp_path / "out/a.nii.gz")
    truth = nib.load(root / "labelsTr/a.nii.gz")
    assert written.get_data_dtype() == np.uint8
    assert np.array_equal(np.asarray(written.dataobj), np.asarray(truth.dataobj))
    assert np.array_equal(written.affine, source.affine)  # as stored (float32 in the header)
    assert np.allclose(written.affine, VOLUME_AFFINE)
    for key in ("pixdim", "qform_code", "sform_code", "srow_x", "srow_z", "dim"):
        assert np.array_equal(written.header[key], source.header[key]), key


def test_default_slice_axis_is_the_coarsest_else_the_last(tmp_path):
    coarse_first = np.diag([2.5, 0.8, 0.8, 1.0])
    write_nifti_cases(tmp_path / "x", cases=("a",), affine=coarse_first)
    assert {p.slice_axis for p in discover_items(tmp_path / "x")} == {0}
    write_nifti_cases(tmp_path / "iso", cases=("a",), affine=np.eye(4))
    iso = discover_items(tmp_path / "iso", slicing=Slicing(keep="all"))
    assert {p.slice_axis for p in iso} == {2} and len(iso) == 6
    chosen = discover_items(tmp_path / "iso", slicing=Slicing(axis=1, keep="all"))
    assert chosen[0].id == "a_y000" and len(chosen) == 32
    assert read_item_image(chosen[0]).shape == (6, 32, 1)


def test_nonzero_keeps_slices_with_image_and_a_share_thins_empty_training_slices(tmp_path):
    root = write_nifti_cases(tmp_path / "data", cases=("a",))
    kept = discover_items(root)  # the default, nonzero: slice 0 is all zero
    assert [p.slice_index for p in kept] == [1, 2, 3, 4, 5]
    empty = [p for p in kept if not read_item_mask(p).any()]
    assert empty, "the test volume needs lesion-free slices"
    thinned = thin_empty_slices(kept, Slicing(keep=0.0), None, seed=0)
    assert all(read_item_mask(p).any() for p in thinned)
    assert thin_empty_slices(kept, Slicing(keep=1.0), None, seed=0) == kept
    assert thin_empty_slices(kept, Slicing(), None, seed=0) == kept


def test_channel_files_are_stacked_in_order_each_scaled_on_its_own(tmp_path):
    root = write_nifti_cases(tmp_path / "data", cases=("a", "b"), channels=3)
    items = discover_items(root)
    item = items[2]
    assert [f.name for f in item.files] == ["a_0000.nii.gz", "a_0001.nii.gz", "a_0002.nii.gz"]
    stacked = read_item_image(item)
    assert stacked.shape == (32, 32, 3) and item_info(item).channels == 3
    for channel, path in enumerate(item.files):
        plane = np.rot90(np.asarray(nib.load(path).dataobj)[:, :, item.slice_index])
        assert np.array_equal(stacked[..., channel], to_unit_float(plane[..., None])[..., 0])


def test_splits_keep_the_slices_of_a_case_together(tmp_path):
    root = write_nifti_cases(tmp_path / "data", cases=("a", "b", "c", "d", "e"))
    items = discover_items(root)
    cases = {p.id: p.group for p in items}
    ids = list(cases)
    split = default_split(ids, 0.2, 0.2, seed=0, cases=cases)
    parts = {name: {cases[i] for i in split[name]} for name in ("train", "val", "test")}
    assert parts["train"] and parts["val"] and parts["test"]
    assert not (parts["train"] & parts["val"] or parts["train"] & parts["test"])
    assert sum(len(split[n]) for n in parts) == len(ids)
    folds = make_splits(ids, folds=2, test_fraction=0.2, seed=0, cases=cases)
    for fold in folds["folds"]:
        assert not {cases[i] for i in fold["train"]} & {cases[i] for i in fold["val"]}


def write_multiframe_dicom(path, frames: np.ndarray) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"  # ultrasound multi-frame
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = pydicom.Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID, dataset.SOPInstanceUID = meta.MediaStorageSOPClassUID, generate_uid()
    dataset.PatientID, dataset.Modality = "anon", "US"
    dataset.Rows, dataset.Columns = frames.shape[1:]
    dataset.NumberOfFrames = frames.shape[0]
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
    dataset.BitsAllocated = dataset.BitsStored = 8
    dataset.HighBit, dataset.PixelRepresentation = 7, 0
    dataset.PixelSpacing = [0.2, 0.3]
    dataset.PixelData = frames.astype(np.uint8).tobytes()
    dataset["PixelData"].VR = "OB"
    dataset.save_as(path, enforce_file_format=True)


def test_a_three_frame_dicom_is_a_case_of_three_frames_and_comes_back_as_one(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (3, 32, 40), dtype=np.uint8)
    write_multiframe_dicom(tmp_path / "loop.dcm", frames)
    items = list_images(tmp_path / "loop.dcm")
    assert [p.id for p in items] == ["loop_f000", "loop_f001", "loop_f002"]
    assert volume_info(tmp_path / "loop.dcm").spacing == (1.0, 0.2, 0.3)
    for index, item in enumerate(items):
        assert np.array_equal(read_item_image(item)[..., 0], frames[index])
    writer = PredictionWriter(tmp_path / "out", probabilities=True)
    for item in items:
        writer.add(item, np.full((32, 40), 0.25, np.float32), read_item_image(item)[..., 0] > 128)
    assert writer.close() == ["loop"]
    written = pydicom.dcmread(tmp_path / "out/loop.dcm")
    assert int(written.NumberOfFrames) == 3 and written.PatientID == "anon"
    assert np.array_equal(written.pixel_array, np.where(frames > 128, 255, 0))
    probabilities = tifffile.imread(tmp_path / "out/probabilities/loop.tif")
    assert probabilities.shape == (3, 32, 40) and np.allclose(probabilities, 0.25)


def test_a_multi_page_tiff_is_a_stack_of_frames(tmp_path):
    frames = np.arange(3 * 16 * 24, dtype=np.uint16).reshape(3, 16, 24)
    tifffile.imwrite(tmp_path / "cine.tif", frames, photometric="minisblack")
    items = list_images(tmp_path / "cine.tif", Slicing(keep="all"))
    assert [p.slice_index for p in items] == [0, 1, 2]
    assert np.array_equal(read_item_image(items[2])[..., 0], frames[2])
    writer = PredictionWriter(tmp_path / "out")
    for item in items:
        writer.add(item, np.zeros((16, 24)), np.ones((16, 24), bool))
    writer.close()
    assert tifffile.imread(tmp_path / "out/cine.tif").shape == (3, 16, 24)


@pytest.mark.parametrize("keep", ["all", "nonzero"])
def test_prediction_input_of_a_volume_file_is_its_slices(tmp_path, keep):
    root = write_nifti_cases(tmp_path / "data", cases=("a",))
    items = list_images(root / "imagesTr/a_0000.nii.gz", Slicing(keep=keep))
    assert len(items) == (6 if keep == "all" else 5) and all(p.mask is None for p in items)


def test_decoded_volumes_are_bounded_whatever_the_number_of_cases(tmp_path):
    from sparseg.data.volumes import VOLUMES_KEPT, read_mask_volume, read_volume

    cases = tuple(f"c{i}" for i in range(VOLUMES_KEPT + 4))
    root = write_nifti_cases(tmp_path / "data", cases=cases, shape=(24, 24, 4))
    read_volume.cache_clear()
    read_mask_volume.cache_clear()
    for item in discover_items(root):
        read_item_image(item)
        read_item_mask(item)
    assert read_volume.cache_info().currsize <= VOLUMES_KEPT
    assert read_mask_volume.cache_info().currsize <= VOLUMES_KEPT
    assert read_volume.cache_info().misses > VOLUMES_KEPT  # every case was read


def test_the_split_command_groups_slices_by_case(tmp_path, run_cli):
    import json

    root = write_nifti_cases(tmp_path / "data", cases=("a", "b", "c", "d"))
    out = tmp_path / "split.json"
    result = run_cli("split", root, "--folds", "2", "--test-fraction", "0.25", "--out", out)
    assert result.code == 0, result.stderr
    assert "test 5 (1 case)" in result.stdout
    split = json.loads(out.read_text())
    test = {i.rsplit("_z", 1)[0] for i in split["test"]}
    for fold in split["folds"]:
        train, val = ({i.rsplit("_z", 1)[0] for i in fold[part]} for part in ("train", "val"))
        assert not (train & val or train & test or val & test)
