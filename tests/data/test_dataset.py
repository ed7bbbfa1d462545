from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import sparseg.data.dataset as dataset_module
from sparseg.data.dataset import (
    PatchDataset,
    SegDataset,
    load_image_tensor,
    resize_mask,
)
from sparseg.data.discovery import Item, discover_items
from sparseg.errors import SparsegError


@pytest.fixture
def counted_reads(monkeypatch):
    """Count the image and mask files the datasets read."""
    calls = {"image": 0, "mask": 0}
    read_image, read_mask = dataset_module.read_item_image, dataset_module.read_item_mask

    def count_image(item):
        calls["image"] += 1
        return read_image(item)

    def count_mask(item, label=None):
        calls["mask"] += 1
        return read_mask(item, label)

    monkeypatch.setattr(dataset_module, "read_item_image", count_image)
    monkeypatch.setattr(dataset_module, "read_item_mask", count_mask)
    return calls


def single_item(tmp_path, write_image, image: np.ndarray, mask: np.ndarray, name="x") -> Item:
    return Item(
        id=name,
        image=write_image(tmp_path / f"images/{name}.png", image),
        mask=write_image(tmp_path / f"masks/{name}.png", mask),
    )


# ---------------------------------------------------------------- pieces
def test_resize_mask_keeps_a_block_covering_an_output_pixel():
    mask = torch.zeros(1, 8, 8)
    mask[0, 2:4, 2:4] = 1  # exactly output pixel (1, 1) at half size: weight 0.75^2 ≥ 0.5
    expected = torch.zeros(1, 4, 4)
    expected[0, 1, 1] = 1
    torch.testing.assert_close(resize_mask(mask, (4, 4)), expected)
    torch.testing.assert_close(resize_mask(expected, (8, 8)), mask)


def test_channels_are_forced(tmp_path, write_image):
    gray = write_image(tmp_path / "g.png", np.full((4, 4), 51, np.uint8))
    red = write_image(tmp_path / "r.png", np.tile(np.array([255, 0, 0], np.uint8), (4, 4, 1)))
    three = load_image_tensor(gray, 3)
    assert three.shape == (3, 4, 4) and torch.allclose(three, torch.full((3, 4, 4), 0.2))
    one = load_image_tensor(red, 1)
    assert one.shape == (1, 4, 4) and torch.allclose(one, torch.full((1, 4, 4), 0.299))
    with pytest.raises(SparsegError, match=r"image has 1 channel\(s\) but 2 are expected"):
        load_image_tensor(gray, 2)


# ---------------------------------------------------------------- SegDataset
def test_seg_dataset_item(make_dataset):
    items = discover_items(make_dataset(["a", "b"], size=(40, 24)))
    dataset = SegDataset(items, input_size=(20, 12))
    item = dataset[1]
    assert set(item) == {"image", "mask", "id", "original_size"}
    assert item["id"] == "b" and item["original_size"].tolist() == [40, 24]
    assert item["image"].shape == (1, 20, 12) and item["image"].dtype == torch.float32
    assert item["mask"].shape == (1, 20, 12) and item["mask"].dtype == torch.float32
    assert set(item["mask"].unique().tolist()) == {0.0, 1.0}
    assert abs(item["image"].mean().item()) < 1e-5
    assert len(dataset) == 2 and dataset.in_channels == 1


def test_seg_dataset_none_normalization_gives_unit_floats(tmp_path, write_image):
    item = single_item(
        tmp_path, write_image, np.full((8, 8), 51, np.uint8), np.zeros((8, 8), np.uint8)
    )
    item = SegDataset([item], (8, 8), normalize="none")[0]
    torch.testing.assert_close(item["image"], torch.full((1, 8, 8), 0.2))
    assert item["mask"].sum() == 0


def test_seg_dataset_mixes_gray_and_rgb(tmp_path, write_image):
    mask = np.zeros((8, 8), np.uint8)
    gray = single_item(tmp_path, write_image, np.zeros((8, 8), np.uint8), mask, "gray")
    rgb = single_item(tmp_path, write_image, np.zeros((8, 8, 3), np.uint8), mask, "rgb")
    assert SegDataset([gray, rgb], (8, 8)).in_channels == 1
    assert SegDataset([rgb, gray], (8, 8)).in_channels == 3
    for dataset in (SegDataset([gray, rgb], (8, 8)), SegDataset([gray, rgb], (8, 8), channels=3)):
        shapes = {dataset[i]["image"].shape[0] for i in range(2)}
        assert shapes == {dataset.in_channels}


def test_seg_dataset_label_map(tmp_path, write_image):
    labels = np.zeros((8, 8), np.uint8)
    labels[0:2, 0:2], labels[4:8, 4:8] = 1, 2
    item = single_item(tmp_path, write_image, np.zeros((8, 8), np.uint8), labels)
    assert SegDataset([item], (8, 8), label=2)[0]["mask"].sum() == 16
    with pytest.raises(SparsegError, match="3 distinct values"):
        SegDataset([item], (8, 8))[0]


def test_seg_dataset_without_masks_has_no_mask_key(tmp_path, write_image):
    image = write_image(tmp_path / "a.png", np.zeros((8, 8), np.uint8))
    item = SegDataset([Item("a", image, None)], (4, 4))[0]
    assert "mask" not in item and item["image"].shape == (1, 4, 4)


def test_seg_dataset_is_lazy(make_dataset, counted_reads):
    items = discover_items(make_dataset([f"{i:02d}" for i in range(30)], size=(16, 16)))
    dataset = SegDataset(items, (8, 8))
    assert counted_reads == {"image": 0, "mask": 0}
    dataset[7]
    assert counted_reads == {"image": 1, "mask": 1}


def test_seg_dataset_errors(tmp_path, write_image, make_dataset):
    with pytest.raises(SparsegError, match="no image pairs"):
        SegDataset([], (8, 8))
    items = discover_items(make_dataset(["a"]))
    with pytest.raises(SparsegError, match=r"data\.normalize"):
        SegDataset(items, (8, 8), normalize="unit")
    items[0].image.write_bytes(items[0].image.read_bytes()[:60])
    with pytest.raises(SparsegError, match="^" + re.escape(f"{items[0].image}: cannot read image")):
        SegDataset(items, (8, 8))[0]


def test_mask_size_checked_at_read_time(tmp_path, write_image):
    item = single_item(
        tmp_path, write_image, np.zeros((8, 8), np.uint8), np.zeros((8, 9), np.uint8)
    )
    with pytest.raises(SparsegError, match=r"mask is 8x9 \(HxW\) but its image x\.png is 8x8"):
        SegDataset([item], (8, 8))[0]


# ---------------------------------------------------------------- PatchDataset
def corner_item(tmp_path, write_image) -> Item:
    """64x64 image, 2x2 target at rows/cols 60-61: a random 16x16 patch hits it with p≈0.0067."""
    mask = np.zeros((64, 64), np.uint8)
    mask[60:62, 60:62] = 255
    image = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    return single_item(tmp_path, write_image, image, mask)


def test_patch_foreground_share(tmp_path, write_image):
    item = corner_item(tmp_path, write_image)
    dataset = PatchDataset([item], (16, 16), foreground_oversample=0.33, length=1000, seed=0)
    share = np.mean([dataset[i]["mask"].any().item() for i in range(len(dataset))])
    assert abs(share - (0.33 + 0.67 * 0.0067)) < 0.045


def test_patch_items_are_deterministic_per_seed_and_epoch(tmp_path, write_image):
    item = corner_item(tmp_path, write_image)

    def patches(seed: int, epoch: int) -> torch.Tensor:
        dataset = PatchDataset([item], (16, 16), 0.5, length=6, seed=seed)
        dataset.set_epoch(epoch)
        return torch.stack([dataset[i]["image"] for i in range(6)])

    torch.testing.assert_close(patches(0, 0), patches(0, 0))
    assert not torch.equal(patches(0, 0), patches(0, 1))
    assert not torch.equal(patches(0, 0), patches(1, 0))


def test_small_image_is_padded_with_zeros(tmp_path, write_image):
    big = corner_item(tmp_path, write_image)
    small_mask = np.zeros((8, 8), np.uint8)
    small_mask[2:5, 2:5] = 255
    small = single_item(
        tmp_path, write_image, np.arange(64, dtype=np.uint8).reshape(8, 8), small_mask, "s"
    )
    dataset = PatchDataset([big, small], (16, 16), 0.5, length=4, seed=0)
    item = dataset[1]  # item i comes from image i % 2
    assert item["id"] == "s" and item["image"].shape == (1, 16, 16)
    assert item["mask"].sum() == 9
    assert (item["image"] == 0).sum() == 16 * 16 - 64  # no pixel of a ramp normalises to 0


def test_patch_larger_than_every_image(tmp_path, write_image):
    item = corner_item(tmp_path, write_image)
    with pytest.raises(
        SparsegError, match=r"^data\.input_size: patch 96x32 is larger than every image"
    ):
        PatchDataset([item], (96, 32), 0.33, length=4, seed=0)


def test_patch_dataset_errors(tmp_path, write_image):
    with pytest.raises(SparsegError, match="no image pairs"):
        PatchDataset([], (16, 16), 0.33, length=4, seed=0)
    image = write_image(tmp_path / "a.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(SparsegError, match="patch sampling needs a mask"):
        PatchDataset([Item("a", image, None)], (8, 8), 0.33, length=4, seed=0)


def test_patch_dataset_is_lazy(make_dataset, counted_reads):
    items = discover_items(make_dataset([f"{i:02d}" for i in range(30)], size=(16, 16)))
    dataset = PatchDataset(items, (8, 8), 0.33, length=100, seed=0)
    assert counted_reads == {"image": 0, "mask": 0}
    assert dataset[3]["id"] == "03"
    assert counted_reads == {"image": 1, "mask": 1}
