"""The decoded-tensor cache: the decision, the stacked items, the batches, the DDP shards and
the patch-mode arrays."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, RandomSampler

import sparseg.data.dataset as dataset_module
from sparseg.data import cache
from sparseg.data.cache import (
    CachedBatches,
    TensorCache,
    decide_cache,
    device_fits,
    native_set_bytes,
    rank_shard,
    resized_set_bytes,
)
from sparseg.data.dataset import PatchDataset, SegDataset
from sparseg.data.discovery import discover_items
from sparseg.errors import SparsegError

IDS = [f"case{i:02d}" for i in range(10)]


def test_decision_by_mode_and_memory_budget() -> None:
    assert not decide_cache("none", 10, available_bytes=10**12).enabled
    assert decide_cache("ram", 10**15, available_bytes=1).enabled
    fits = decide_cache("auto", 1000, available_bytes=4000)
    assert fits.enabled and fits.budget_bytes == 1000
    too_big = decide_cache("auto", 1001, available_bytes=4000)
    assert not too_big.enabled and "too large" in too_big.reason
    with pytest.raises(SparsegError, match=r"data\.cache"):
        decide_cache("disk", 1)


def test_auto_reads_the_memory_available_now(monkeypatch) -> None:
    monkeypatch.setattr(cache, "available_memory_bytes", lambda: 1_000)
    assert not decide_cache("auto", 10_000).enabled
    monkeypatch.setattr(cache, "available_memory_bytes", lambda: 10**9)
    assert decide_cache("auto", 10_000).enabled


def test_a_cpu_run_keeps_its_cache_in_ram() -> None:
    assert not device_fits(1, torch.device("cpu"))


def test_size_estimates(make_dataset) -> None:
    assert resized_set_bytes(3, 1, (32, 64)) == 3 * 32 * 64 * 5
    items = discover_items(make_dataset(IDS[:2], size=(20, 30)))
    assert native_set_bytes(items) == 2 * 20 * 30 * 2  # uint8 gray + a boolean mask


def test_tensor_cache_holds_the_items_of_the_lazy_set(make_dataset) -> None:
    dataset = SegDataset(discover_items(make_dataset(IDS)), (32, 32))
    stored = TensorCache(dataset, [3, 7])
    assert (
        stored.masks.dtype == torch.uint8
        and len(stored) == 2
        and stored.ids == ["case03", "case07"]
    )
    batch = stored.batch([1, 0])
    assert torch.equal(batch["image"][0], dataset[7]["image"])
    assert torch.equal(batch["mask"][1], dataset[3]["mask"])
    assert batch["mask"].dtype == torch.float32
    everything = list(stored.batches(batch_size=1))
    assert len(everything) == 2 and torch.equal(everything[1]["image"][0], dataset[7]["image"])


def test_cached_batches_equal_the_dataloader_batches(make_dataset) -> None:
    dataset = SegDataset(discover_items(make_dataset(IDS)), (32, 32))
    lazy_sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(5))
    lazy = list(DataLoader(dataset, batch_size=3, sampler=lazy_sampler, drop_last=True))
    stored = TensorCache(dataset)
    sampler = RandomSampler(range(len(stored)), generator=torch.Generator().manual_seed(5))
    cached = list(CachedBatches(stored, sampler, batch_size=3, drop_last=True))
    assert len(cached) == len(lazy) == 3
    for mine, theirs in zip(cached, lazy, strict=True):
        assert torch.equal(mine["image"], theirs["image"])
        assert torch.equal(mine["mask"], theirs["mask"])


def test_cache_needs_masks(make_dataset, tmp_path) -> None:
    root = make_dataset(IDS[:2])
    (root / "masks" / "case01.png").unlink()
    dataset = SegDataset(discover_items(root, require_masks=False), (32, 32))
    with pytest.raises(SparsegError, match="every image needs a mask"):
        TensorCache(dataset)


@pytest.mark.parametrize(("count", "world"), [(10, 2), (11, 2), (7, 3), (2, 4)])
def test_rank_shards_are_equal_and_cover_everything(count: int, world: int) -> None:
    shards = [rank_shard(count, rank, world) for rank in range(world)]
    assert len({len(shard) for shard in shards}) == 1
    assert set().union(*shards) == set(range(count))
    assert sum(len(shard) for shard in shards) - count < world  # padding: under one per rank


def test_patch_mode_keeps_decoded_arrays_in_their_dtype(make_dataset, monkeypatch) -> None:
    items = discover_items(make_dataset(IDS[:3], size=(40, 40)))
    plain = PatchDataset(items, (32, 32), 0.5, length=6, seed=1)
    kept = PatchDataset(items, (32, 32), 0.5, length=6, seed=1, cache_decoded=True)
    first = [kept[i] for i in range(6)]
    reads = []
    original = dataset_module.read_item_image
    monkeypatch.setattr(dataset_module, "read_item_image", lambda p: reads.append(p) or original(p))
    for index in range(6):
        again, fresh = kept[index], plain[index]
        assert torch.equal(again["image"], first[index]["image"])
        assert torch.equal(again["image"], fresh["image"])
        assert torch.equal(again["mask"], fresh["mask"])
    assert len(reads) == 6  # only the uncached set read its files again
    pixels, mask = kept._decoded[0]
    assert pixels.dtype == np.uint8 and mask.dtype == bool


def test_a_set_without_masks_caches_its_images(make_dataset) -> None:
    root = make_dataset(IDS[:3])
    items = [replace(item, mask=None) for item in discover_items(root)]
    dataset = SegDataset(items, (32, 32))
    stored = TensorCache(dataset)
    assert stored.masks is None and stored.nbytes == stored.images.nbytes
    batch = stored.batch([2, 0])
    assert set(batch) == {"image"}
    assert torch.equal(batch["image"][0], dataset[2]["image"])
