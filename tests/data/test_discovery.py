from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from sparseg.data.discovery import Item, discover_items, list_images
from sparseg.errors import SparsegError, SparsegWarning

USGRA = Path("/work/shared/data/usgra_nerve")
GRAY = np.zeros((16, 12), np.uint8)
MASK = np.zeros((16, 12), np.uint8)
MASK[4:8, 4:8] = 255


def starts(path: Path, problem: str) -> str:
    return "^" + re.escape(f"{path}: {problem}")


def test_images_and_masks_layout(make_dataset):
    root = make_dataset(["b", "a", "c"])
    items = discover_items(root)
    assert [item.id for item in items] == ["a", "b", "c"]
    assert items[0] == Item(id="a", image=root / "images/a.png", mask=root / "masks/a.png")


def test_image_and_mask_may_use_different_formats(tmp_path, write_image):
    write_image(tmp_path / "images/x.jpg", GRAY)
    write_image(tmp_path / "masks/x.tif", MASK)
    assert discover_items(tmp_path) == [
        Item(id="x", image=tmp_path / "images/x.jpg", mask=tmp_path / "masks/x.tif")
    ]


def test_nnunet_raw_layout(tmp_path, write_image):
    for case in ("case_001", "case_000"):
        write_image(tmp_path / f"imagesTr/{case}_0000.png", GRAY)
        write_image(tmp_path / f"labelsTr/{case}.png", MASK)
    items = discover_items(tmp_path)
    assert [item.id for item in items] == ["case_000", "case_001"]
    assert items[0].image.name == "case_000_0000.png" and items[0].mask.name == "case_000.png"


def test_nnunet_channel_files_become_one_item_with_channels_in_order(tmp_path, write_image):
    first = write_image(tmp_path / "imagesTr/case_0000.png", GRAY)
    second = write_image(tmp_path / "imagesTr/case_0001.png", GRAY)
    write_image(tmp_path / "labelsTr/case.png", MASK)
    (item,) = discover_items(tmp_path)
    assert item.id == "case" and item.files == (first, second)


def test_nnunet_channel_missing_for_one_case_is_refused(tmp_path, write_image):
    for case in ("a", "b"):
        write_image(tmp_path / f"imagesTr/{case}_0000.png", GRAY)
        write_image(tmp_path / f"labelsTr/{case}.png", MASK)
    write_image(tmp_path / "imagesTr/a_0001.png", GRAY)
    missing = tmp_path / "imagesTr/b_0001.png"
    with pytest.raises(SparsegError, match=starts(missing, "channel file missing for case 'b'")):
        discover_items(tmp_path)


def test_non_image_files_are_skipped_with_one_warning(make_dataset):
    root = make_dataset(["a"])
    for name in ("notes.txt", ".DS_Store", "Thumbs.db", "._a.png"):
        (root / "images" / name).write_bytes(b"junk")
    (root / "images" / "sub").mkdir()
    with pytest.warns(SparsegWarning, match=r"images: skipped 5 non-image entries") as caught:
        items = discover_items(root)
    assert [item.id for item in items] == ["a"]
    assert len(caught) == 1


def test_unicode_and_spaces_in_ids(make_dataset):
    items = discover_items(make_dataset(["nervio ñ 1", "köpf-2"]))
    assert [item.id for item in items] == ["köpf-2", "nervio ñ 1"]


# ---------------------------------------------------------------- errors
def test_missing_root(tmp_path):
    with pytest.raises(SparsegError, match=starts(tmp_path / "nope", "data folder not found")):
        discover_items(tmp_path / "nope")


def test_root_without_images_folder(tmp_path):
    with pytest.raises(SparsegError, match=starts(tmp_path, "expected an images/")):
        discover_items(tmp_path)


def test_empty_images_folder(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(SparsegError, match=starts(tmp_path / "images", "no images found")):
        discover_items(tmp_path)


def test_missing_masks_folder(tmp_path, write_image):
    write_image(tmp_path / "images/a.png", GRAY)
    with pytest.raises(SparsegError, match=starts(tmp_path / "masks", "mask folder not found")):
        discover_items(tmp_path)


def test_image_without_mask(make_dataset, write_image):
    root = make_dataset(["a"])
    lonely = write_image(root / "images/b.png", GRAY)
    with pytest.raises(SparsegError, match=starts(lonely, "image without a mask")):
        discover_items(root)


def test_mask_without_image(make_dataset, write_image):
    root = make_dataset(["a"])
    lonely = write_image(root / "masks/b.png", MASK)
    with pytest.raises(SparsegError, match=starts(lonely, "mask without an image")):
        discover_items(root)


def test_duplicate_ids_with_different_extensions(make_dataset, write_image):
    root = make_dataset(["a"])
    write_image(root / "images/a.tif", GRAY)
    with pytest.raises(SparsegError, match=r"a\.tif: duplicate id 'a' \(also a\.png\)"):
        discover_items(root)


def test_size_mismatch_is_found_from_headers(tmp_path, write_image):
    write_image(tmp_path / "images/a.png", GRAY)
    mask = write_image(tmp_path / "masks/a.png", np.zeros((16, 13), np.uint8))
    with pytest.raises(SparsegError, match=starts(mask, "mask is 16x13 (HxW) but its image a.png")):
        discover_items(tmp_path)


def test_corrupt_file_fails_discovery(make_dataset):
    root = make_dataset(["a", "b"])
    (root / "masks/b.png").write_bytes(b"")
    with pytest.raises(SparsegError, match=starts(root / "masks/b.png", "empty file")):
        discover_items(root)


# ---------------------------------------------------------------- prediction inputs
def test_masks_optional_for_prediction(make_dataset, write_image):
    root = make_dataset(["a"])
    write_image(root / "images/b.png", GRAY)
    items = discover_items(root, require_masks=False)
    assert [(item.id, item.mask is None) for item in items] == [("a", False), ("b", True)]


def test_no_masks_folder_is_fine_for_prediction(tmp_path, write_image):
    write_image(tmp_path / "images/a.png", GRAY)
    assert discover_items(tmp_path, require_masks=False) == [
        Item(id="a", image=tmp_path / "images/a.png", mask=None)
    ]


def test_list_images_of_a_folder_a_file_and_a_data_set(make_dataset, tmp_path, write_image):
    root = make_dataset(["a", "b"])
    assert list_images(root) == [
        Item(id="a", image=root / "images/a.png", mask=None),
        Item(id="b", image=root / "images/b.png", mask=None),
    ]
    assert [item.id for item in list_images(root / "images")] == ["a", "b"]
    assert list_images(root / "images/b.png") == [
        Item(id="b", image=root / "images/b.png", mask=None)
    ]


def test_list_images_errors(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(SparsegError, match=starts(text, "not an image file")):
        list_images(text)
    with pytest.raises(SparsegError, match=starts(tmp_path / "gone", "input not found")):
        list_images(tmp_path / "gone")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SparsegError, match=starts(empty, "no images found")):
        list_images(empty)


def test_list_images_checks_headers(tmp_path):
    broken = tmp_path / "in" / "a.png"
    broken.parent.mkdir()
    broken.write_bytes(b"\x89PNG")
    with pytest.raises(SparsegError, match=starts(broken, "not a recognised .png image file")):
        list_images(broken.parent)


@pytest.mark.skipif(not USGRA.is_dir(), reason=f"{USGRA} not present on this machine")
def test_usgra_nerve_has_244_pairs():
    items = discover_items(USGRA)
    assert len(items) == 244
    assert all(item.mask is not None for item in items)
