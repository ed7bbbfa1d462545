"""What feeds the training loop: batches from the lazy data sets or from the tensor cache.

The cache decision (:func:`sparseg.data.cache.decide_cache`) is taken once per run. Cached or
not, one process draws the same batches for a seed: both paths share the sampler. Under DDP a
cached run gives each rank a fixed shard of the images for the whole run (shuffled within it
every epoch), so each rank decodes and holds only its own share.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from lightning_fabric import Fabric
from torch.utils.data import DataLoader, RandomSampler, SubsetRandomSampler
from torch.utils.data.distributed import DistributedSampler

from sparseg.config import Config
from sparseg.data.cache import (
    CachedBatches,
    CacheDecision,
    TensorCache,
    decide_cache,
    device_fits,
    native_set_bytes,
    rank_shard,
    resized_set_bytes,
)
from sparseg.data.dataset import PatchDataset
from sparseg.training.costs import CostClock
from sparseg.training.setup import RunData


@dataclass
class Feed:
    """``train``: an iterable of batches with a ``sampler``; ``val``: cached validation images
    of this rank's shard (resize mode with the cache), else None; ``generator`` seeds the
    sampler each epoch (None under a DistributedSampler)."""

    train: Any
    val: TensorCache | None
    generator: torch.Generator | None
    decision: CacheDecision
    device_resident: bool = False


def build_feed(config: Config, data: RunData, fabric: Fabric, quiet: bool) -> Feed:
    batch = config.training.batch_size
    rank, world = fabric.global_rank, fabric.world_size
    if config.data.mode == "patch":
        return _patch_feed(config, data, fabric)
    channels, size = data.in_channels, config.data.input_size
    held = len(data.train) + (len(data.val) if data.val is not None else 0)
    needed = resized_set_bytes(-(-held // world), channels, size)
    decision = decide_cache(config.data.cache, needed)
    if not decision.enabled:
        return _lazy_feed(config, data.train, fabric, decision)
    shown = None if quiet else "caching training images"
    train = TensorCache(data.train, rank_shard(len(data.train), rank, world), shown)
    shown = None if quiet else "caching validation images"
    val_shard = range(rank, len(data.val), world) if data.val is not None else range(0)
    val = TensorCache(data.val, val_shard, shown) if len(val_shard) else None
    on_device = device_fits(train.nbytes + (val.nbytes if val else 0), fabric.device)
    if on_device:
        train.to(fabric.device)
        if val is not None:
            val.to(fabric.device)
    generator = torch.Generator().manual_seed(config.seed)
    sampler = RandomSampler(range(len(train)), generator=generator)
    batches = CachedBatches(train, sampler, batch, drop_last=len(train) >= batch)
    return Feed(batches, val, generator, decision, on_device)


def epoch_batches(feed: Feed, dataset: Any, seed: int, epoch: int, rank: int) -> Iterator[Any]:
    """One epoch's batches; all randomness of the epoch, the global torch generator's draws
    included, comes from (seed, epoch, rank), so a run resumed at an epoch's end is exact."""
    seed = seed * 100_003 + epoch * 1_009 + rank
    torch.manual_seed(seed)
    sampler = feed.train.sampler
    if isinstance(sampler, DistributedSampler):
        sampler.set_epoch(epoch)
    elif feed.generator is not None:
        feed.generator.manual_seed(seed)
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    return iter(feed.train)


def device_batches(
    feed: Feed, source: Iterator[Any], count: int, fabric: Fabric, clock: CostClock
) -> Iterator[tuple[int, Any]]:
    """``(index, batch)`` for up to ``count`` batches of ``source`` on the training device; the
    fetching (and the copy to the device) is booked as ``data`` time."""
    for index in range(count):
        with clock.measure("data"):
            batch = next(source, None)
            if batch is not None and not feed.device_resident:
                batch = fabric.to_device(batch)
        if batch is None:
            return
        yield index, batch


def _lazy_feed(config: Config, dataset: Any, fabric: Fabric, decision: CacheDecision) -> Feed:
    generator = None
    if fabric.world_size > 1:
        sampler: Any = DistributedSampler(
            dataset, fabric.world_size, fabric.global_rank, shuffle=True, seed=config.seed
        )
    else:
        generator = torch.Generator().manual_seed(config.seed)
        sampler = RandomSampler(dataset, generator=generator)
    return Feed(_loader(config, dataset, sampler, fabric), None, generator, decision)


def _patch_feed(config: Config, data: RunData, fabric: Fabric) -> Feed:
    """Patches cut from decoded native-size arrays kept in the data set after the first read."""
    dataset: PatchDataset = data.train  # type: ignore[assignment]
    rank, world = fabric.global_rank, fabric.world_size
    owned = set(rank_shard(len(dataset.items), rank, world)) if world > 1 else None
    items = [p for i, p in enumerate(dataset.items) if owned is None or i in owned]
    decision = decide_cache(config.data.cache, native_set_bytes(items))
    if not decision.enabled:
        return _lazy_feed(config, dataset, fabric, decision)
    dataset.cache_decoded = True
    if world == 1:
        return _lazy_feed(config, dataset, fabric, decision)
    indices = [i for i in range(len(dataset)) if i % len(dataset.items) in owned]
    per_rank = -(-len(dataset) // world)  # equal batch counts on every rank, or DDP hangs
    indices = [indices[i % len(indices)] for i in range(per_rank)]
    generator = torch.Generator().manual_seed(config.seed)
    sampler = SubsetRandomSampler(indices, generator=generator)
    return Feed(_loader(config, dataset, sampler, fabric), None, generator, decision)


def _loader(config: Config, dataset: Any, sampler: Any, fabric: Fabric) -> DataLoader:
    batch = config.training.batch_size
    loader = DataLoader(
        dataset,
        batch_size=batch,
        sampler=sampler,
        drop_last=len(dataset) // fabric.world_size >= batch,
        num_workers=config.data.num_workers,
        # its own generator for the workers' base seed: torch's global RNG, which drives the
        # augmentation, then sees the same draws whether batches come from here or the cache
        generator=torch.Generator().manual_seed(config.seed),
    )
    return fabric.setup_dataloaders(loader, use_distributed_sampler=False)
