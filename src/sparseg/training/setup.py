"""What a run needs before its first step: the split, the data sets, the optimiser."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from lightning_fabric import Fabric
from torch.utils.data import Dataset

from sparseg.config import Config
from sparseg.data.dataset import PatchDataset, SegDataset
from sparseg.data.discovery import Item
from sparseg.data.items import thin_empty_slices
from sparseg.data.resolve import ItemSelection
from sparseg.data.splits import DefaultSplit, SplitIds, save_split
from sparseg.data.volumes import Slicing
from sparseg.errors import SparsegError
from sparseg.run_layout import RunPaths


@dataclass
class RunData:
    """A run's items by id, its split, and its data sets (``val`` None: nothing to validate)."""

    items: dict[str, Item]
    split: SplitIds
    train: Dataset
    val: Dataset | None
    in_channels: int


def run_selection(
    config: Config, data_root: Path, run_dir: Path, *, split_file: Path | None = None, fold: int = 0
) -> ItemSelection:
    """The items and split a training into ``run_dir`` uses: ``split_file``'s fold, else the
    run's own ``split.json`` (a resumed run), else a seeded default split written there."""
    return ItemSelection(
        Path(data_root),
        slicing=Slicing.of(config.data),
        split_file=split_file,
        fold=fold,
        saved_split=RunPaths(run_dir).split,
        default=DefaultSplit.of(config.data, config.seed),
    )


def resolve_split(selection: ItemSelection) -> SplitIds:
    """The split of ``selection``; the ids used are always saved as the run's ``split.json``
    (its ``saved_split``) so tune and evaluate find them later."""
    split = selection.split()
    if selection.split_file is not None and selection.saved_split is not None:
        save_split(
            {"train": split.train, "val": split.val, "test": split.test}, selection.saved_split
        )
    return split


def load_run_data(config: Config, selection: ItemSelection) -> RunData:
    items, slicing = selection.items, selection.slicing
    split = resolve_split(selection)
    if not split.train:
        raise SparsegError(f"{selection.split_path}: the training split is empty")
    if not split.val:
        raise SparsegError(f"{selection.split_path}: the validation split is empty")
    data = config.data
    common = {"normalize": data.normalize, "label": data.label}
    train_items = thin_empty_slices(
        [items[i] for i in split.train], slicing, data.label, config.seed
    )
    val = SegDataset([items[i] for i in split.val], data.input_size, **common)
    common["channels"] = val.in_channels
    if data.mode == "patch":
        batch = config.training.batch_size
        steps = config.training.steps_per_epoch or math.ceil(len(train_items) / batch)
        train: Dataset = PatchDataset(
            train_items,
            data.input_size,
            data.foreground_oversample,
            length=steps * batch,
            seed=config.seed,
            **common,
        )
    else:
        train = SegDataset(train_items, data.input_size, **common)
    if len(train) < config.training.batch_size and data.mode == "resize":
        raise SparsegError(
            f"training.batch_size={config.training.batch_size} is larger than the training split "
            f"({len(train)} images)"
        )
    return RunData(items, split, train, val, val.in_channels)


def build_optimizer(config: Config, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    cfg = config.training
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(
        params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=True
    )


def resolve_precision(config: Config) -> str:
    """``auto``: bf16 (or fp16) mixed precision on CUDA, full precision on CPU."""
    wanted = config.training.precision
    if wanted != "auto":
        return wanted
    if torch.cuda.is_available() and config.training.accelerator in ("auto", "cuda", "gpu"):
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def make_fabric(config: Config) -> Fabric:
    cfg = config.training
    distributed = cfg.devices * cfg.num_nodes > 1
    return Fabric(
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        num_nodes=cfg.num_nodes,
        strategy="ddp" if distributed else "auto",
        precision=resolve_precision(config),  # type: ignore[arg-type]
    )
