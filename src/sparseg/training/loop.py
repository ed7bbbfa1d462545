"""The training loop on Lightning Fabric: devices, precision, DDP and accumulation sync.

A run directory receives ``config.yaml``, ``split.json`` (when made here), ``last.ckpt``,
``best.ckpt`` (on improvement), ``metrics.csv``, ``tb/`` and ``train_summary.json`` with where
the wall-clock went (:mod:`sparseg.training.costs`). Every epoch's randomness is derived from
(seed, epoch, rank), so a run resumed from ``last.ckpt`` replays exactly what an uninterrupted
run would have done.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from lightning_fabric import Fabric
from lightning_fabric.loggers import TensorBoardLogger

from sparseg.augment import build_augmentation
from sparseg.config import Config, save_config
from sparseg.data.foreground import ForegroundCounts, count_foreground, pos_weight_from_counts
from sparseg.data.resolve import ItemSelection
from sparseg.errors import SparsegError, SparsegWarning
from sparseg.losses import build_loss
from sparseg.models import SegmentationNet, build_model, plain_model
from sparseg.models.checkpoint import load_checkpoint, save_checkpoint
from sparseg.run_layout import TENSORBOARD_DIR, RunPaths
from sparseg.training.blank_guard import next_restart, restart_due
from sparseg.training.budget import agreed_stop, budget_progress, budget_stop
from sparseg.training.costs import Cadence, CostClock
from sparseg.training.ema import build_weight_average
from sparseg.training.feed import Feed, build_feed, device_batches, epoch_batches
from sparseg.training.progress import TrainingProgress
from sparseg.training.run_files import prepare_run_dir, write_metrics_csv, write_summary
from sparseg.training.run_state import (
    RunState,
    best_payload,
    check_resumable,
    common_payload,
    restore_last,
    restored_state,
    save_last,
)
from sparseg.training.schedule import progressive_scale, run_length
from sparseg.training.setup import (
    build_optimizer,
    load_run_data,
    make_fabric,
    resolve_precision,
    run_selection,
)
from sparseg.training.validation import validate, validate_cached, validate_native


def train(
    config: Config,
    data_root: Path,
    out_dir: Path,
    *,
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
    selection = run_selection(config, Path(data_root), out_dir, split_file=split_file, fold=fold)
    return Trainer(fabric, config, out_dir, selection, quiet=quiet).run(resume)


class Trainer:
    def __init__(
        self,
        fabric: Fabric,
        config: Config,
        out_dir: Path,
        selection: ItemSelection,
        *,
        quiet: bool,
    ) -> None:
        self.fabric, self.config, self.out_dir = fabric, config, out_dir
        self.paths, self.data_root = RunPaths(out_dir), selection.data_root
        self.is_main = fabric.global_rank == 0
        if self.is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
            self.data = load_run_data(config, selection)
        fabric.barrier()
        if not self.is_main:
            self.data = load_run_data(config, selection)
        self.quiet = quiet or not self.is_main
        self.state = RunState()
        tcfg = config.training
        self.cadence = Cadence(
            tcfg.val_every, tcfg.checkpoint_every, tcfg.checkpoint_minutes, bool(tcfg.max_minutes)
        )
        self.channels_last = tcfg.memory_format == "channels_last"

    # ------------------------------------------------------------------ setup
    @cached_property
    def foreground(self) -> ForegroundCounts:
        """The training masks' statistics (BCE's auto pos_weight, the heads' prior bias)."""
        train_items = [self.data.items[i] for i in self.data.split.train]
        return count_foreground(train_items, self.config.data.label)

    def _fresh_network(self, seed: int, resumed: bool) -> SegmentationNet:
        """A network with new weights from ``seed`` (a resumed one gets its weights later)."""
        self.fabric.seed_everything(seed, verbose=False)
        prior = self.config.model.output_bias == "prior" and not resumed
        return build_model(
            self.config.model, self.data.in_channels, self.foreground if prior else None
        )

    def _build_model(self, pos_weight: float | None, resumed: bool) -> None:
        cfg, fabric = self.config, self.fabric
        self.model = self._fresh_network(cfg.seed, resumed)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        weights = cfg.model.deep_supervision_weights if cfg.model.deep_supervision else None
        presence = cfg.model.presence_head
        self.loss_fn = build_loss(cfg.loss, weights, pos_weight, presence).to(fabric.device)
        optimizer = build_optimizer(cfg, list(self.model.parameters()))
        self.wrapped, self.optimizer = fabric.setup(self.model, optimizer)
        self.average = build_weight_average(self.model, cfg.training.ema)
        self.augment = build_augmentation(cfg.augment).to(fabric.device)

    def _build_schedule(self, feed: Feed) -> None:
        self.feed = feed
        self.batches_per_epoch, self.total_steps, self.schedule = run_length(
            self.config.training, len(feed.train), self.config.data.mode
        )

    def _start_epoch(self, epoch: int) -> Iterator[dict[str, Any]]:
        rank = self.fabric.global_rank
        return epoch_batches(self.feed, self.data.train, self.config.seed, epoch, rank)

    # ------------------------------------------------------------------ run
    def run(self, resume: bool) -> dict[str, Any]:
        cfg = self.config
        resumed = load_checkpoint(self.paths.last) if resume else None
        if resumed is not None:
            check_resumable(resumed, cfg, self.paths.last)
        self.pos_weight = self._pos_weight(resumed)
        self._build_model(self.pos_weight, resumed is not None)
        if resumed is not None:
            self.state = restored_state(resumed, cfg.training)
        state = self.state  # a resumed config may set another val_every
        state.val_interval = self.cadence.validation_interval(state.val_interval, 0.0, 0.0)
        self.clock = CostClock(self.fabric.device, self.state.costs)
        started = self.started = time.monotonic() - self.state.elapsed
        with self.clock.measure("data"):  # the cache fill is part of the budget
            feed = build_feed(cfg, self.data, self.fabric, self.quiet)
        self._build_schedule(feed)
        if resumed is not None:
            self._restore(resumed)
        if self.is_main:  # only once the checkpoint fits: a failed resume keeps the run as it was
            save_config(cfg, self.paths.config)
        logger = None
        if self.is_main:
            logger = TensorBoardLogger(str(self.out_dir), name=TENSORBOARD_DIR, version="")
        with TrainingProgress(self.total_steps, cfg.training.max_minutes, self.quiet) as progress:
            self.progress = progress
            while self.state.stop_reason is None:
                self._train_epoch(started, progress, logger)
            summary = self._finish()
            progress.finish(summary)
        if logger is not None:
            logger.finalize("success")
        return summary

    def _pos_weight(self, resumed: dict[str, Any] | None) -> float | None:
        wanted = self.config.loss.pos_weight
        if resumed is not None:
            return resumed["pos_weight"]
        if wanted == "auto":
            return pos_weight_from_counts(self.foreground.foreground_pixels, self.foreground.pixels)
        return wanted

    def _train_epoch(self, started: float, progress: TrainingProgress, logger: Any) -> None:
        cfg, fabric, state, clock = self.config.training, self.fabric, self.state, self.clock
        epoch = state.epoch
        source = self._start_epoch(epoch)
        epoch_start, loss_sum, batches, images = time.monotonic(), 0.0, 0, 0
        training_before = clock.training_seconds()
        accumulate = cfg.accumulate_grad_batches
        self.wrapped.train()
        for index, batch in device_batches(
            self.feed, source, self.batches_per_epoch, fabric, clock
        ):
            last_of_group = (index + 1) % accumulate == 0 or index + 1 == self.batches_per_epoch
            loss = self._forward_backward(batch, epoch, index, accumulate, last_of_group)
            batches += 1
            images += batch["image"].shape[0] * fabric.world_size
            loss_sum += loss
            if last_of_group and math.isfinite(loss):
                with clock.measure("step"):
                    self._optimizer_step(started)
            elapsed = time.monotonic() - started
            progress.update(state.step, elapsed, epoch, loss, state.best_dice)
            if self._budget_spent(elapsed):
                break
        state.images_seen += images
        state.epoch += 1
        if state.stop_reason is None and state.epoch >= cfg.max_epochs:
            state.stop_reason = "max_epochs"
        training_seconds = clock.training_seconds() - training_before
        self._end_epoch(epoch, loss_sum / max(batches, 1), images, epoch_start, started, logger)
        if state.epochs_since_validation == 0:  # validated just now: re-plan the interval
            state.val_interval = self.cadence.validation_interval(
                state.val_interval, self._last_validation_seconds, training_seconds
            )

    def _forward_backward(
        self, batch: dict[str, Any], epoch: int, index: int, accumulate: int, sync: bool
    ) -> float:
        progress = self._progress(time.monotonic() - self.started)
        scale = progressive_scale(self.config.training.progressive, progress)
        with self.clock.measure("augment"), torch.no_grad():
            images, masks = self.augment(batch["image"], batch["mask"], scale)
            if self.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
        with self.clock.measure("step"):
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
            last = self.paths.last
            good = f"last good checkpoint: {last}" if last.exists() else "no checkpoint written yet"
            raise SparsegError(f"non-finite loss at {where}; training stopped ({good})")
        self.optimizer.zero_grad(set_to_none=True)
        self.fabric.print(f"warning: skipped a non-finite loss at {where}")
        return math.nan

    def _optimizer_step(self, started: float) -> None:
        cfg = self.config.training
        progress = self._progress(time.monotonic() - started)
        self.schedule.apply(self.optimizer, progress, self.state.lr_scale)
        if cfg.grad_clip is not None:
            self.fabric.clip_gradients(self.wrapped, self.optimizer, max_norm=cfg.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += 1
        if self.average is not None:
            self.average.update(self.model, self.state.step)

    def _progress(self, elapsed: float) -> float:
        return budget_progress(self.config.training, self.state.step, self.total_steps, elapsed)

    def _budget_spent(self, elapsed: float) -> bool:
        state = self.state
        reason = budget_stop(self.config.training, state.step, elapsed) or state.stop_reason
        state.stop_reason = agreed_stop(self.fabric, reason)
        return state.stop_reason is not None

    def _end_epoch(
        self,
        epoch: int,
        train_loss: float,
        images: int,
        epoch_start: float,
        started: float,
        logger: Any,
    ) -> None:
        state = self.state
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
        state.epochs_since_validation += 1
        if state.stop_reason is not None or state.epochs_since_validation >= state.val_interval:
            validation_start = self.clock.seconds["validation"]
            with self.clock.measure("validation"):
                improved = self._validate(row)
            self._last_validation_seconds = self.clock.seconds["validation"] - validation_start
            state.epochs_since_validation = 0
            if improved and self.is_main:
                with self.clock.measure("checkpoint"):
                    self._save_best(epoch, row["val_dice"])
        state.history.append(row)
        if logger is not None:
            logger.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=epoch)
        state.elapsed = time.monotonic() - started
        if self.is_main:
            due = self.cadence.should_checkpoint(
                state.epoch, state.elapsed, state.last_checkpoint_elapsed
            )
            if state.stop_reason is not None or due:
                self._save_last()
            write_metrics_csv(self.paths.metrics_csv, state.history)
        self.fabric.barrier()
        state.elapsed = time.monotonic() - started

    def _validate(self, row: dict[str, float]) -> bool:
        """Validate into ``row``; True when the Dice is the best so far."""
        cfg, state = self.config, self.state
        thresholds = cfg.training.validation_thresholds or (cfg.inference.threshold,)
        batch, fabric = cfg.training.batch_size, self.fabric
        net = self.wrapped if self.average is None else self.average.synced(fabric)
        with fabric.autocast():  # the average is not wrapped by Fabric's precision plugin
            if cfg.data.mode == "patch":
                val_items = [self.data.items[i] for i in self.data.split.val]
                channels = self.data.in_channels
                score = validate_native(fabric, net, val_items, channels, cfg.data, thresholds)
            elif self.feed.decision.enabled:
                score = validate_cached(fabric, net, self.feed.val, batch, thresholds)
            else:
                score = validate(fabric, net, self.data.val, batch, thresholds)
        row.update(score.columns())
        dice, blank = score.dice, score.blank
        self.schedule.observe(dice)
        if blank and self._restart_if_due():
            return False
        state.blank_since_start = state.blank_since_start and blank
        chosen_on = self._smoothed(dice)
        if not blank and chosen_on > state.best_dice:
            state.best_dice, state.best_epoch = chosen_on, int(row["epoch"])
            state.bad_validations = 0
            return True
        state.bad_validations += 1
        patience = cfg.training.patience
        if patience is not None and state.bad_validations >= patience:
            state.stop_reason = state.stop_reason or "early_stopping"
        return False

    def _smoothed(self, dice: float) -> float:
        """What best.ckpt is chosen on: the Dice, or with ``training.val_dice_smoothing`` its
        exponential moving average over this network's validations."""
        weight, state = self.config.training.val_dice_smoothing, self.state
        if weight is None:
            return dice
        previous = state.smoothed_dice
        state.smoothed_dice = dice if previous is None else weight * previous + (1 - weight) * dice
        return state.smoothed_dice

    def _restart_if_due(self) -> bool:
        """The blank guard (:mod:`sparseg.training.blank_guard`): fresh weights from another
        seed, a fresh optimiser state and weight average, a lower LR; True when it restarted."""
        state, guard = self.state, self.config.training.blank_guard
        progress = self._progress(time.monotonic() - self.started)
        if state.stop_reason is not None or not restart_due(
            guard, progress, state.network_started_at, state.blank_since_start, len(state.restarts)
        ):
            return False
        restart = next_restart(guard, self.config.seed, state.step, progress, len(state.restarts))
        fresh = self._fresh_network(restart.seed, resumed=False)
        if self.channels_last:
            fresh = fresh.to(memory_format=torch.channels_last)
        self.model.load_state_dict(fresh.state_dict())
        self.optimizer.state.clear()
        self.average = build_weight_average(self.model, self.config.training.ema)
        state.restarts.append(asdict(restart))
        state.lr_scale = restart.lr_scale
        state.network_started_at, state.blank_since_start = progress, True
        state.bad_validations, state.smoothed_dice = 0, None
        self.progress.note(restart.describe())
        return True

    # ------------------------------------------------------------------ files
    def _common(self) -> dict[str, Any]:
        return common_payload(self.config, self.data.in_channels, self.pos_weight)

    def _save_best(self, epoch: int, dice: float, blank: bool = False) -> None:
        net = self.model if self.average is None else self.average.module
        weights = plain_model(net).state_dict()
        save_checkpoint(self.paths.best, best_payload(weights, epoch, dice, self._common(), blank))

    def _save_last(self) -> None:
        with self.clock.measure("checkpoint"):
            state = self.state
            state.last_checkpoint_elapsed = time.monotonic() - self.started
            state.elapsed = state.last_checkpoint_elapsed
            state.costs = dict(self.clock.seconds)
            save_last(
                self.paths.last,
                self.model,
                self.optimizer,
                self.schedule,
                self.fabric.strategy.precision,
                state=state,
                common=self._common(),
                ema_state=None if self.average is None else self.average.state_dict(),
            )

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        precision = self.fabric.strategy.precision
        restore_last(
            checkpoint, self.model, self.optimizer, self.schedule, precision, self.paths.last
        )
        if self.average is not None:
            self.average.restore(checkpoint.get("ema"), self.model, self.paths.last)

    def _finish(self) -> dict[str, Any]:
        state = self.state
        blank = state.best_epoch < 0  # no validation ever marked a target
        if blank:
            state.best_epoch = state.epoch - 1
            state.best_dice = state.history[-1]["val_dice"] if state.history else math.nan
        if blank and self.is_main:
            self._save_best(state.best_epoch, state.best_dice, blank=True)
            warnings.warn(
                f"{self.paths.best}: the network stayed blank (validation Dice on the images with "
                f"a target under 0.01 at every validation, {len(state.restarts)} restart(s)); "
                "it is saved flagged blank: try another seed, a lower training.lr or more steps",
                SparsegWarning,
                stacklevel=1,
            )
        summary = {
            "best_epoch": state.best_epoch,
            "best_val_dice": state.best_dice,
            "epochs": state.epoch,
            "steps": state.step,
            "images_seen": state.images_seen,
            "wall_seconds": round(state.elapsed, 2),
            **self.clock.summary(state.elapsed),
            "cache": self.feed.decision.reason,
            "memory_format": self.config.training.memory_format,
            "stop_reason": state.stop_reason,
            "final_train_loss": state.history[-1]["train_loss"] if state.history else None,
            "pos_weight": self.pos_weight,
            "in_channels": self.data.in_channels,
            "world_size": self.fabric.world_size,
            "data_root": str(self.data_root.resolve()),
            "precision": resolve_precision(self.config),
            "blank": blank,
            "restarts": state.restarts,
        }
        if self.is_main:  # the CSV again: a kill right after the last checkpoint may have lost it
            write_metrics_csv(self.paths.metrics_csv, state.history)
            write_summary(self.paths.train_summary, summary)
        self.fabric.barrier()
        return summary
