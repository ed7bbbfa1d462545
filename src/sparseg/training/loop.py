"""The training loop on Lightning Fabric: devices, precision, DDP and accumulation sync.

A run directory receives ``config.yaml``, ``split.json`` (when made here), ``last.ckpt`` (every
``checkpoint_every`` epochs and at the end), ``best.ckpt`` (on improvement), ``metrics.csv``,
``tb/`` and ``train_summary.json``.
Every epoch's randomness is derived from (seed, epoch, rank), so a run resumed from ``last.ckpt``
replays exactly what an uninterrupted run would have done.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from lightning_fabric import Fabric
from lightning_fabric.loggers import TensorBoardLogger
from torch.utils.data import DataLoader, RandomSampler
from torch.utils.data.distributed import DistributedSampler

from sparseg.augment import MultiScale, build_augmentation
from sparseg.config import Config, save_config
from sparseg.errors import SparsegError
from sparseg.losses import build_loss
from sparseg.models import build_model, plain_model
from sparseg.training.checkpoint import load_checkpoint, load_model_weights, save_checkpoint
from sparseg.training.progress import TrainingProgress
from sparseg.training.run_files import prepare_run_dir, write_metrics_csv, write_summary
from sparseg.training.schedule import LRSchedule
from sparseg.training.setup import (
    auto_pos_weight,
    build_optimizer,
    load_run_data,
    make_fabric,
    resolve_precision,
)
from sparseg.training.validation import validate, validate_native


@dataclass
class RunState:
    """Everything beyond weights and optimiser that a resumed run must get back."""

    epoch: int = 0
    step: int = 0
    images_seen: int = 0
    elapsed: float = 0.0
    best_dice: float = -1.0
    best_epoch: int = -1
    bad_validations: int = 0
    stop_reason: str | None = None
    history: list[dict[str, float]] = field(default_factory=list)


def train(
    config: Config,
    data_root: Path,
    out_dir: Path,
    split_file: Path | None = None,
    fold: int = 0,
    resume: bool = False,
    quiet: bool = False,
) -> dict[str, Any]:
    """Train one model; returns the summary also written to ``train_summary.json``."""
    out_dir = Path(out_dir)
    prepare_run_dir(out_dir, data_root, resume)
    fabric = make_fabric(config)
    fabric.launch()
    return Trainer(fabric, config, Path(data_root), out_dir, split_file, fold, quiet).run(resume)


class Trainer:
    def __init__(
        self,
        fabric: Fabric,
        config: Config,
        data_root: Path,
        out_dir: Path,
        split_file: Path | None,
        fold: int,
        quiet: bool,
    ) -> None:
        self.fabric, self.config, self.out_dir = fabric, config, out_dir
        self.data_root = data_root
        self.is_main = fabric.global_rank == 0
        if self.is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
            self.data = load_run_data(config, data_root, split_file, fold, out_dir)
        fabric.barrier()
        if not self.is_main:
            self.data = load_run_data(config, data_root, split_file, fold, out_dir)
        self.quiet = quiet or not self.is_main
        self.state = RunState()

    # ------------------------------------------------------------------ setup
    def _build(self, pos_weight: float | None) -> None:
        cfg, fabric = self.config, self.fabric
        fabric.seed_everything(cfg.seed, verbose=False)
        self.model = build_model(cfg.model, self.data.in_channels)
        weights = cfg.model.deep_supervision_weights if cfg.model.deep_supervision else None
        self.loss_fn = build_loss(cfg.loss, weights, pos_weight).to(fabric.device)  # pos_weight
        optimizer = build_optimizer(cfg, list(self.model.parameters()))
        self.wrapped, self.optimizer = fabric.setup(self.model, optimizer)
        self.augment = build_augmentation(cfg.augment).to(fabric.device)
        self.multiscale = MultiScale(cfg.augment.multiscale)
        self.loader = self._train_loader()
        tcfg = cfg.training
        per_epoch = len(self.loader)
        if tcfg.steps_per_epoch is not None and cfg.data.mode == "resize":
            per_epoch = min(per_epoch, tcfg.steps_per_epoch)
        self.batches_per_epoch = per_epoch
        self.total_steps = max(1, tcfg.max_epochs * per_epoch // tcfg.accumulate_grad_batches)
        if tcfg.max_steps is not None:
            self.total_steps = min(self.total_steps, tcfg.max_steps)
        warmup = tcfg.warmup_fraction
        if warmup is None:
            warmup = (
                tcfg.warmup_epochs * per_epoch / tcfg.accumulate_grad_batches / self.total_steps
            )
        self.schedule = LRSchedule(tcfg, warmup)

    def _train_loader(self) -> DataLoader:
        cfg, fabric = self.config, self.fabric
        dataset = self.data.train
        if fabric.world_size > 1:
            sampler: Any = DistributedSampler(
                dataset, fabric.world_size, fabric.global_rank, shuffle=True, seed=cfg.seed
            )
        else:
            self.generator = torch.Generator().manual_seed(cfg.seed)
            sampler = RandomSampler(dataset, generator=self.generator)
        loader = DataLoader(
            dataset,
            batch_size=cfg.training.batch_size,
            sampler=sampler,
            drop_last=len(dataset) // fabric.world_size >= cfg.training.batch_size,
            num_workers=cfg.data.num_workers,
        )
        return fabric.setup_dataloaders(loader, use_distributed_sampler=False)

    def _start_epoch(self, epoch: int) -> None:
        """Derive this epoch's randomness from (seed, epoch, rank): exact resume for free."""
        seed = self.config.seed * 100_003 + epoch * 1_009 + self.fabric.global_rank
        torch.manual_seed(seed)
        sampler = self.loader.sampler
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(epoch)
        else:
            self.generator.manual_seed(seed)
        if hasattr(self.data.train, "set_epoch"):
            self.data.train.set_epoch(epoch)

    # ------------------------------------------------------------------ run
    def run(self, resume: bool) -> dict[str, Any]:
        cfg = self.config
        resumed = load_checkpoint(self.out_dir / "last.ckpt") if resume else None
        pos_weight = self._pos_weight(resumed)
        self._build(pos_weight)
        if resumed is not None:
            self._restore(resumed)
        if self.is_main:  # only once the checkpoint fits: a failed resume keeps the run as it was
            save_config(cfg, self.out_dir / "config.yaml")
        self.pos_weight = pos_weight
        logger = (
            TensorBoardLogger(str(self.out_dir), name="tb", version="") if self.is_main else None
        )
        started = time.monotonic() - self.state.elapsed
        with TrainingProgress(self.total_steps, cfg.training.max_minutes, self.quiet) as progress:
            while self.state.stop_reason is None:
                self._train_epoch(started, progress, logger)
        if logger is not None:
            logger.finalize("success")
        return self._finish()

    def _pos_weight(self, resumed: dict[str, Any] | None) -> float | None:
        wanted = self.config.loss.pos_weight
        if resumed is not None:
            return resumed["pos_weight"]
        if wanted == "auto":
            train_ids = self.data.split.train
            return auto_pos_weight([self.data.pairs[i] for i in train_ids], self.config.data.label)
        return wanted

    def _train_epoch(self, started: float, progress: TrainingProgress, logger: Any) -> None:
        cfg, fabric, state = self.config.training, self.fabric, self.state
        epoch = state.epoch
        self._start_epoch(epoch)
        epoch_start, loss_sum, batches, images = time.monotonic(), 0.0, 0, 0
        accumulate = cfg.accumulate_grad_batches
        self.wrapped.train()
        for index, batch in enumerate(self.loader):
            if index >= self.batches_per_epoch:
                break
            last_of_group = (index + 1) % accumulate == 0 or index + 1 == self.batches_per_epoch
            loss = self._forward_backward(batch, epoch, index, accumulate, last_of_group)
            batches += 1
            images += batch["image"].shape[0] * fabric.world_size
            loss_sum += loss
            if last_of_group and math.isfinite(loss):
                self._optimizer_step(started)
            elapsed = time.monotonic() - started
            progress.update(state.step, elapsed, epoch, loss, state.best_dice)
            if self._budget_spent(elapsed):
                break
        state.images_seen += images
        state.elapsed = time.monotonic() - started
        state.epoch += 1
        if state.stop_reason is None and state.epoch >= cfg.max_epochs:
            state.stop_reason = "max_epochs"
        self._end_epoch(epoch, loss_sum / max(batches, 1), images, epoch_start, logger)

    def _forward_backward(
        self, batch: dict[str, Any], epoch: int, index: int, accumulate: int, sync: bool
    ) -> float:
        images, masks = batch["image"], batch["mask"]
        with torch.no_grad():
            images, masks = self.augment(images, masks)
            images, masks = self.multiscale(images, masks)
        with self.fabric.no_backward_sync(self.wrapped, enabled=not sync):
            loss = self.loss_fn(self.wrapped(images), masks)
            finite = torch.isfinite(loss.detach()).float()
            if self.fabric.world_size > 1:
                finite = self.fabric.all_reduce(finite, reduce_op="min")
            if finite.item() < 1:
                return self._non_finite(epoch, index)
            self.fabric.backward(loss / accumulate)
        return float(loss.detach())

    def _non_finite(self, epoch: int, index: int) -> float:
        where = f"epoch {epoch} batch {index}"
        if not self.config.training.skip_nonfinite:
            last = self.out_dir / "last.ckpt"
            good = f"last good checkpoint: {last}" if last.exists() else "no checkpoint written yet"
            raise SparsegError(f"non-finite loss at {where}; training stopped ({good})")
        self.optimizer.zero_grad(set_to_none=True)
        self.fabric.print(f"warning: skipped a non-finite loss at {where}")
        return math.nan

    def _optimizer_step(self, started: float) -> None:
        cfg = self.config.training
        self.schedule.apply(self.optimizer, self._progress(time.monotonic() - started))
        if cfg.grad_clip is not None:
            self.fabric.clip_gradients(self.wrapped, self.optimizer, max_norm=cfg.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += 1

    def _progress(self, elapsed: float) -> float:
        budget = self.config.training.max_minutes
        by_steps = self.state.step / self.total_steps
        return max(by_steps, elapsed / (budget * 60)) if budget else by_steps

    def _budget_spent(self, elapsed: float) -> bool:
        cfg, state = self.config.training, self.state
        if cfg.max_steps is not None and state.step >= cfg.max_steps:
            state.stop_reason = "max_steps"
        elif cfg.max_minutes is not None and elapsed >= cfg.max_minutes * 60:
            state.stop_reason = "max_minutes"
        if self.fabric.world_size > 1:  # every rank must stop at the same step
            stop = torch.tensor(float(state.stop_reason is not None), device=self.fabric.device)
            if self.fabric.all_reduce(stop, reduce_op="max").item() > 0:
                state.stop_reason = state.stop_reason or "max_minutes"
        return state.stop_reason is not None

    def _end_epoch(
        self, epoch: int, train_loss: float, images: int, epoch_start: float, logger: Any
    ) -> None:
        cfg, state = self.config, self.state
        seconds = time.monotonic() - epoch_start
        row: dict[str, float] = {
            "epoch": epoch,
            "step": state.step,
            "train_loss": train_loss,
            "val_dice": math.nan,
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": seconds,
            "images_per_s": images / seconds if seconds > 0 else 0.0,
        }
        if state.stop_reason is not None or (epoch + 1) % cfg.training.val_every == 0:
            self._validate(epoch, row)
        state.history.append(row)
        if logger is not None:
            logger.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=epoch)
        if self.is_main:
            if state.stop_reason is not None or state.epoch % cfg.training.checkpoint_every == 0:
                self._save_last()
            write_metrics_csv(self.out_dir / "metrics.csv", state.history)
        self.fabric.barrier()

    def _validate(self, epoch: int, row: dict[str, float]) -> None:
        cfg, state = self.config, self.state
        threshold = cfg.inference.threshold
        if cfg.data.mode == "patch":
            val_pairs = [self.data.pairs[i] for i in self.data.split.val]
            dice = validate_native(
                self.fabric, self.wrapped, val_pairs, self.data.in_channels, cfg.data, threshold
            )
        else:
            dice = validate(
                self.fabric, self.wrapped, self.data.val, cfg.training.batch_size, threshold
            )
        row["val_dice"] = dice
        self.schedule.observe(dice)
        if dice > state.best_dice:
            state.best_dice, state.best_epoch, state.bad_validations = dice, epoch, 0
            if self.is_main:
                self._save_best(epoch, dice)
        else:
            state.bad_validations += 1
            patience = cfg.training.patience
            if patience is not None and state.bad_validations >= patience:
                state.stop_reason = state.stop_reason or "early_stopping"

    # ------------------------------------------------------------------ files
    def _common(self) -> dict[str, Any]:
        return {
            "config": self.config.model_dump(mode="json"),
            "in_channels": self.data.in_channels,
            "pos_weight": self.pos_weight,
        }

    def _save_best(self, epoch: int, dice: float) -> None:
        weights = plain_model(self.model).state_dict()
        state = {"model": weights, "epoch": epoch, "val_dice": dice}
        save_checkpoint(self.out_dir / "best.ckpt", {**state, **self._common()})

    def _save_last(self) -> None:
        run_state = dict(vars(self.state))
        save_checkpoint(
            self.out_dir / "last.ckpt",
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(),
                "precision": self.fabric.strategy.precision.state_dict(),
                "run": run_state,
                **self._common(),
            },
        )

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        path = self.out_dir / "last.ckpt"
        trained = checkpoint["config"]["model"]
        wanted = self.config.model.model_dump(mode="json")
        for key in ("architecture", "encoder", "deep_supervision"):
            if trained.get(key) != wanted[key]:
                raise SparsegError(
                    f"{path}: trained with model.{key}={trained.get(key)}, "
                    f"the config asks for {wanted[key]}"
                )
        load_model_weights(self.model, checkpoint["model"], path)
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.schedule.load_state_dict(checkpoint["schedule"])
        self.fabric.strategy.precision.load_state_dict(checkpoint["precision"])
        self.state = RunState(**checkpoint["run"])
        self.state.stop_reason = self._stop_reason_after_resume()

    def _stop_reason_after_resume(self) -> str | None:
        """A finished run continues when the resumed config allows more epochs or steps."""
        cfg, state = self.config.training, self.state
        if state.stop_reason == "early_stopping" or (
            cfg.patience is not None and state.bad_validations >= cfg.patience
        ):
            return "early_stopping"
        if state.epoch >= cfg.max_epochs:
            return "max_epochs"
        if cfg.max_steps is not None and state.step >= cfg.max_steps:
            return "max_steps"
        if cfg.max_minutes is not None and state.elapsed >= cfg.max_minutes * 60:
            return "max_minutes"
        return None

    def _finish(self) -> dict[str, Any]:
        state = self.state
        summary = {
            "best_epoch": state.best_epoch,
            "best_val_dice": state.best_dice,
            "epochs": state.epoch,
            "steps": state.step,
            "images_seen": state.images_seen,
            "wall_seconds": round(state.elapsed, 2),
            "stop_reason": state.stop_reason,
            "final_train_loss": state.history[-1]["train_loss"] if state.history else None,
            "pos_weight": self.pos_weight,
            "in_channels": self.data.in_channels,
            "world_size": self.fabric.world_size,
            "data_root": str(self.data_root.resolve()),
            "precision": resolve_precision(self.config),
        }
        if self.is_main:  # the CSV again: a kill right after the last checkpoint may have lost it
            write_metrics_csv(self.out_dir / "metrics.csv", state.history)
            write_summary(self.out_dir / "train_summary.json", summary)
        self.fabric.barrier()
        return summary
