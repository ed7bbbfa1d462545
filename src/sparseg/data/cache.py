"""The decoded-tensor cache: a run's images are decoded and resized once, then reused.

Resize mode stacks a data set's finished items (normalised, resized image; {0, 1} mask) in one
tensor each, on the training device when it is a GPU and the set is small, and serves batches
by indexing them: the same sampler gives the same batches as the lazy path, without decoding,
resizing or collating again. Patch mode keeps the decoded native-size arrays as stored
(uint8/uint16, not float) and cuts its patches from them (:class:`PatchDataset`).

``data.cache: auto`` caches only when the estimate fits a share of the memory available now, so
a large data set stays lazy instead of pushing the machine into swap.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import psutil
import torch
from rich.console import Console
from rich.progress import track
from torch.utils.data import BatchSampler, Dataset, Sampler

from sparseg.data.discovery import Item
from sparseg.data.items import item_info
from sparseg.errors import SparsegError

RAM_SHARE = 0.25  # of the RAM available at start: model, optimiser and batches need the rest
DEVICE_SHARE = 0.10  # of the GPU memory free at start: activations need the rest
FLOAT32_BYTES = 4
_STDERR = Console(stderr=True)


@dataclass(frozen=True)
class CacheDecision:
    enabled: bool
    needed_bytes: int
    budget_bytes: int | None
    reason: str


def available_memory_bytes() -> int:
    """RAM available to this process now (page cache counts as free, as the kernel sees it)."""
    return int(psutil.virtual_memory().available)


def resized_set_bytes(count: int, channels: int, size: tuple[int, int]) -> int:
    """Bytes of ``count`` cached items: float32 images plus uint8 masks."""
    pixels = size[0] * size[1]
    return count * pixels * (channels * FLOAT32_BYTES + 1)


def native_set_bytes(items: Sequence[Item]) -> int:
    """Bytes of the decoded native-size images (as stored) and their boolean masks."""
    total = 0
    for item in items:
        info = item_info(item)
        sample_bytes = 1 if info.bit_depth <= 8 else 2 if info.bit_depth <= 16 else 4
        total += info.height * info.width * (info.channels * sample_bytes + 1)
    return total


def decide_cache(mode: str, needed_bytes: int, available_bytes: int | None = None) -> CacheDecision:
    """``ram`` always caches, ``none`` never, ``auto`` when ``needed_bytes`` fits RAM_SHARE."""
    if mode == "none":
        return CacheDecision(False, needed_bytes, None, "data.cache none: images decoded per step")
    if mode == "ram":
        return CacheDecision(True, needed_bytes, None, "data.cache ram")
    if mode != "auto":
        raise SparsegError(f"data.cache: unknown mode {mode!r} (allowed: auto, ram, none)")
    available = available_memory_bytes() if available_bytes is None else available_bytes
    budget = int(RAM_SHARE * available)
    enabled = needed_bytes <= budget
    verdict = "cached in RAM" if enabled else "too large, images decoded per step"
    return CacheDecision(
        enabled,
        needed_bytes,
        budget,
        f"data.cache auto: {needed_bytes / 2**20:.0f} MiB needed, budget {budget / 2**20:.0f} MiB "
        f"({RAM_SHARE:.0%} of available RAM): {verdict}",
    )


def device_fits(needed_bytes: int, device: torch.device) -> bool:
    """Whether a cache of ``needed_bytes`` may live on ``device`` (a CUDA GPU with room)."""
    if device.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return needed_bytes <= DEVICE_SHARE * free


def rank_shard(count: int, rank: int, world_size: int) -> list[int]:
    """The indices one DDP rank owns for the whole run: every ``world_size``-th one, padded by
    wrapping so that every rank holds the same number (DistributedSampler's padding rule)."""
    per_rank = -(-count // world_size)
    padded = [index % count for index in range(per_rank * world_size)]
    return padded[rank::world_size]


class TensorCache:
    """A resize-mode data set's items stacked: ``images`` (N, C, H, W) float32 and ``masks``
    (N, 1, H, W) uint8 (None for a set without masks, as pretraining reads), built once from
    ``dataset[i]`` for ``indices`` (default: all), with a progress bar titled ``progress`` when
    given."""

    def __init__(
        self, dataset: Dataset, indices: Sequence[int] | None = None, progress: str | None = None
    ) -> None:
        indices = list(range(len(dataset))) if indices is None else list(indices)
        if not indices:
            raise SparsegError("nothing to cache: the data set is empty")
        shown = indices if progress is None else track(indices, progress, console=_STDERR)
        items = [dataset[index] for index in shown]
        labelled = ["mask" in item for item in items]
        if any(labelled) and not all(labelled):
            raise SparsegError("the tensor cache holds training data: every image needs a mask")
        self.images = torch.stack([item["image"] for item in items])
        self.masks = (
            torch.stack([item["mask"].to(torch.uint8) for item in items]) if all(labelled) else None
        )
        self.ids = [item["id"] for item in items]

    @property
    def nbytes(self) -> int:
        return self.images.nbytes + (self.masks.nbytes if self.masks is not None else 0)

    @property
    def device(self) -> torch.device:
        return self.images.device

    def __len__(self) -> int:
        return len(self.ids)

    def to(self, device: torch.device) -> TensorCache:
        self.images = self.images.to(device)
        if self.masks is not None:
            self.masks = self.masks.to(device)
        return self

    def batch(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        """Images and float masks of ``indices``, as the DataLoader would have collated them."""
        where = torch.as_tensor(list(indices), dtype=torch.long, device=self.device)
        batch = {"image": self.images.index_select(0, where)}
        if self.masks is not None:
            batch["mask"] = self.masks.index_select(0, where).to(torch.float32)
        return batch

    def batches(self, batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
        """Every item once, in order (validation)."""
        for start in range(0, len(self), batch_size):
            yield self.batch(range(start, min(start + batch_size, len(self))))


class CachedBatches:
    """A DataLoader stand-in over a :class:`TensorCache`: the sampler's order in batches."""

    def __init__(
        self, cache: TensorCache, sampler: Sampler, batch_size: int, drop_last: bool
    ) -> None:
        self.cache = cache
        self.sampler = sampler
        self.batch_sampler = BatchSampler(sampler, batch_size, drop_last)

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for indices in self.batch_sampler:
            yield self.cache.batch(indices)
