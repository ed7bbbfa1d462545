"""Validation during training: mean per-image Dice (empty-vs-empty = 1), reduced across ranks,
at the best of one or more thresholds, and beside it the mean over the images with a target (a
network that marks nothing scores the empty share on the first and 0 on the second). Whether the
network is blank is probed at :data:`BLANK_PROBE_THRESHOLDS` too, so that a network that ranks
its targets right but still under the chosen threshold is not taken for a blank one."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from lightning_fabric import Fabric
from torch.utils.data import DataLoader, Dataset, Subset

from sparseg.config import DataConfig
from sparseg.data.cache import TensorCache
from sparseg.data.dataset import load_image_tensor
from sparseg.data.discovery import Item
from sparseg.data.items import read_item_mask
from sparseg.inference.model_probability import probability_map
from sparseg.models.outputs import mask_logits
from sparseg.training.blank_guard import is_blank

BLANK_PROBE_THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.5)


def per_image_dice(
    probabilities: torch.Tensor, masks: torch.Tensor, threshold: float
) -> torch.Tensor:
    """Dice of each image at ``threshold``; an empty prediction of an empty mask scores 1."""
    predicted = (probabilities.float() > threshold).flatten(1).float()
    truth = (masks > 0.5).flatten(1).float()
    overlap = (predicted * truth).sum(1)
    total = predicted.sum(1) + truth.sum(1)
    return torch.where(total > 0, 2 * overlap / total.clamp_min(1), torch.ones_like(total))


@dataclass(frozen=True)
class ValidationScore:
    """The mean per-image Dice at the threshold (of those tried) that scored best, at that
    threshold the mean over the images with a target (nan when none has one), and whether the
    network is blank at every threshold tried or probed (:mod:`sparseg.training.blank_guard`)."""

    dice: float
    threshold: float
    dice_with_target: float
    blank: bool

    def columns(self) -> dict[str, float]:
        """The score under its ``metrics.csv`` column names."""
        return {
            "val_dice": self.dice,
            "val_threshold": self.threshold,
            "val_dice_with_target": self.dice_with_target,
            "val_blank": float(self.blank),
        }


def _dice_sums(
    probabilities: torch.Tensor, masks: torch.Tensor, thresholds: Sequence[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed per-image Dice at each threshold over every image (row 0) and over the images
    with a target (row 1), shape (2, len(thresholds)); and those two image counts."""
    has_target = (masks > 0.5).flatten(1).any(1)
    dice = torch.stack([per_image_dice(probabilities, masks, t) for t in thresholds])
    counts = torch.stack([torch.ones_like(has_target).sum(), has_target.sum()]).float()
    return torch.stack([dice.sum(1), dice[:, has_target].sum(1)]), counts


def _probed(thresholds: Sequence[float]) -> list[float]:
    """The thresholds scored: those tried for the checkpoint, then the blank probes."""
    return [*thresholds, *(t for t in BLANK_PROBE_THRESHOLDS if t not in thresholds)]


def _best(
    fabric: Fabric, dice_sums: torch.Tensor, counts: torch.Tensor, thresholds: Sequence[float]
) -> ValidationScore:
    """The best of ``thresholds`` (the first columns of the sums; the rest are probes)."""
    if fabric.world_size > 1:
        dice_sums = fabric.all_reduce(dice_sums, reduce_op="sum")
        counts = fabric.all_reduce(counts, reduce_op="sum")
    means = dice_sums / counts.clamp_min(1)[:, None]
    tried = means[:, : len(thresholds)]
    best = int(torch.argmax(tried[0]))  # the first of equal scores: thresholds come in order
    with_target = float(tried[1, best]) if counts[1] > 0 else math.nan
    any_with_target = float(means[1].max()) if counts[1] > 0 else math.nan
    blank = is_blank(float(means[0].max()), any_with_target)
    return ValidationScore(float(tried[0, best]), float(thresholds[best]), with_target, blank)


@torch.no_grad()
def validate(
    fabric: Fabric,
    model: torch.nn.Module,
    dataset: Dataset,
    batch_size: int,
    thresholds: Sequence[float],
) -> ValidationScore:
    """Mean per-image Dice over the validation set; each rank scores its own share of images."""
    shard = Subset(dataset, range(fabric.global_rank, len(dataset), fabric.world_size))
    return _mean_dice(fabric, model, DataLoader(shard, batch_size=batch_size), thresholds)


@torch.no_grad()
def validate_cached(
    fabric: Fabric,
    model: torch.nn.Module,
    cache: TensorCache | None,
    batch_size: int,
    thresholds: Sequence[float],
) -> ValidationScore:
    """:func:`validate` over this rank's cached validation images (None: it has none)."""
    batches = cache.batches(batch_size) if cache is not None else ()
    return _mean_dice(fabric, model, batches, thresholds)


def _mean_dice(
    fabric: Fabric, model: torch.nn.Module, batches: Iterable[dict], thresholds: Sequence[float]
) -> ValidationScore:
    model.eval()
    probed = _probed(thresholds)
    dice_sums = torch.zeros(2, len(probed), device=fabric.device)
    counts = torch.zeros(2, device=fabric.device)
    for batch in batches:
        images = batch["image"].to(fabric.device)
        masks = batch["mask"].to(fabric.device)
        probabilities = torch.sigmoid(mask_logits(model(images)))
        sums, seen = _dice_sums(probabilities, masks, probed)
        dice_sums, counts = dice_sums + sums, counts + seen
    model.train()
    return _best(fabric, dice_sums, counts, thresholds)


@torch.no_grad()
def validate_native(
    fabric: Fabric,
    model: torch.nn.Module,
    items: list[Item],
    channels: int,
    data: DataConfig,
    thresholds: Sequence[float],
) -> ValidationScore:
    """Patch training: mean per-image Dice on native-size images through sliding windows."""
    model.eval()
    probed = _probed(thresholds)
    dice_sums = torch.zeros(2, len(probed), device=fabric.device)
    counts = torch.zeros(2, device=fabric.device)
    for item in items[fabric.global_rank :: fabric.world_size]:
        image = load_image_tensor(item, channels).to(fabric.device)
        probability = probability_map(model, image, data)
        mask = torch.from_numpy(read_item_mask(item, data.label)).to(fabric.device)
        sums, seen = _dice_sums(probability[None, None], mask[None, None], probed)
        dice_sums, counts = dice_sums + sums, counts + seen
    model.train()
    return _best(fabric, dice_sums, counts, thresholds)
