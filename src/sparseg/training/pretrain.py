"""``sparseg pretrain``: self-supervised pretraining of the configured network on Lightning Fabric.

The network is the one ``train`` builds from ``model.*`` with an image-sized output head, trained
on a pretext task (:mod:`sparseg.training.pretext`, ``pretrain.objective``) over every image it is
given, read lazily or from the tensor cache like ``train``'s (always whole images resized to
``data.input_size``). ``--out weights.pth`` receives:

- ``weights.pth``: the encoder and decoder weights, which ``model.pretrained_weights`` loads (and
  from which ``model.encoder_weights`` takes the encoder alone);
- ``weights.json``: what it saw (sources, images, cases), steps, minutes, loss per epoch and the
  final loss;
- ``weights.ckpt``: everything an exact resume needs, as ``train``'s ``last.ckpt`` (epochs draw
  their randomness from (seed, epoch, rank)). ``resume`` continues from it where it exists and
  starts afresh where it does not; a finished pretraining resumed with the same budget takes no
  step and writes the same weights again, so several sweeps' steps may ask for the same file.

The optimiser, LR schedule, batch size, precision and devices are ``training.*``'s (the LR is
``pretrain.lr`` when set); the budget is ``--steps`` and/or ``--minutes``, whichever ends first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lightning_fabric import Fabric

from sparseg.config import Config
from sparseg.data.dataset import SegDataset
from sparseg.data.discovery import Item
from sparseg.data.pretrain_items import common_channels, pretrain_sources
from sparseg.data.splits import SplitIds
from sparseg.data.volumes import Slicing
from sparseg.errors import SparsegError
from sparseg.io_utils import atomic_write, atomic_write_json, ensure_output_file
from sparseg.models.checkpoint import load_checkpoint
from sparseg.models.pretrained_weights import network_state
from sparseg.training.budget import agreed_stop, budget_progress, budget_stop
from sparseg.training.costs import Cadence, CostClock
from sparseg.training.feed import build_feed, device_batches, epoch_batches
from sparseg.training.pretext import build_pretext, pretext_loss, reconstruction_network
from sparseg.training.progress import TrainingProgress
from sparseg.training.run_state import (
    RunState,
    check_resumable,
    common_payload,
    restore_last,
    restored_state,
    save_last,
)
from sparseg.training.schedule import run_length
from sparseg.training.setup import RunData, build_optimizer, make_fabric

WEIGHTS_SUFFIXES = (".pth", ".pt")
EPOCH_CAP = 1_000_000  # no budget reaches it: steps or minutes end a pretraining


@dataclass(frozen=True)
class PretrainPaths:
    """The files of a pretraining written to ``weights``."""

    weights: Path

    @property
    def summary(self) -> Path:
        return self.weights.with_suffix(".json")

    @property
    def last(self) -> Path:
        return self.weights.with_suffix(".ckpt")


def pretrain(
    config: Config,
    out: Path,
    data: Path | None = None,
    folders: Sequence[Path] = (),
    split_file: Path | None = None,
    minutes: float | None = None,
    steps: int | None = None,
    resume: bool = False,
    quiet: bool = False,
) -> dict[str, Any]:
    """Pretrain on ``data`` (labels ignored; with ``split_file`` its test cases left out) and
    the image ``folders``; returns the summary also written beside the weights."""
    if minutes is None and steps is None:
        raise SparsegError("pretrain: give a budget, --steps S and/or --minutes M")
    inputs = [Path(p) for p in (data, *folders) if p is not None]
    paths = PretrainPaths(_checked_out(Path(out), resume, inputs))
    sources = pretrain_sources(data, folders, Slicing.of(config.data), split_file)
    items = [item for found in sources.values() for item in found]
    in_channels = common_channels(items)
    config = pretraining_config(config, minutes, steps)
    fabric = make_fabric(config)
    fabric.launch()
    pretrainer = Pretrainer(fabric, config, items, in_channels, paths, quiet)
    return pretrainer.run(resume, {str(path): len(found) for path, found in sources.items()})


def pretraining_config(config: Config, minutes: float | None, steps: int | None) -> Config:
    """``config`` with the pretraining's budget, LR and whole-image input."""
    training = config.training.model_copy(
        update={
            "max_minutes": minutes,
            "max_steps": steps,
            "max_epochs": EPOCH_CAP,
            "patience": None,
            "accumulate_grad_batches": 1,
            "lr": config.pretrain.lr or config.training.lr,
        }
    )
    data = config.data.model_copy(update={"mode": "resize"})
    return config.model_copy(update={"training": training, "data": data})


def _checked_out(out: Path, resume: bool, inputs: list[Path]) -> Path:
    if out.suffix not in WEIGHTS_SUFFIXES:
        raise SparsegError(f"{out}: the weights file must end in {' or '.join(WEIGHTS_SUFFIXES)}")
    out = ensure_output_file(out, WEIGHTS_SUFFIXES, *inputs)
    last = PretrainPaths(out).last
    if last.is_file() and not resume:
        raise SparsegError(
            f"{last}: a pretraining of {out.name} is already there; pass --resume to continue it "
            "or choose another --out"
        )
    return out


class Pretrainer:
    """One pretraining: the loop over epochs, its checkpoint and its files."""

    def __init__(
        self,
        fabric: Fabric,
        config: Config,
        items: list[Item],
        in_channels: int,
        paths: PretrainPaths,
        quiet: bool,
    ) -> None:
        self.fabric, self.config, self.paths, self.in_channels = fabric, config, paths, in_channels
        self.is_main = fabric.global_rank == 0
        self.quiet = quiet or not self.is_main
        data = config.data
        dataset = SegDataset(items, data.input_size, data.normalize, channels=in_channels)
        split = SplitIds([item.id for item in items], [], [])
        self.data = RunData({}, split, dataset, None, in_channels)
        self.cases = len({item.group for item in items})
        tcfg = config.training
        self.cadence = Cadence(
            "auto", tcfg.checkpoint_every, tcfg.checkpoint_minutes, tcfg.max_minutes is not None
        )
        self.channels_last = tcfg.memory_format == "channels_last"

    def run(self, resume: bool, sources: dict[str, int]) -> dict[str, Any]:
        cfg, fabric = self.config, self.fabric
        resumed = load_checkpoint(self.paths.last) if resume and self.paths.last.is_file() else None
        if resumed is not None:
            check_resumable(resumed, cfg, self.paths.last)
        fabric.seed_everything(cfg.seed, verbose=False)
        self.model = reconstruction_network(cfg.model, self.in_channels)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        optimizer = build_optimizer(cfg, list(self.model.parameters()))
        self.wrapped, self.optimizer = fabric.setup(self.model, optimizer)
        self.task = build_pretext(cfg.pretrain).to(fabric.device)
        self.state = restored_state(resumed, cfg.training) if resumed is not None else RunState()
        self.clock = CostClock(fabric.device, self.state.costs)
        self.started = time.monotonic() - self.state.elapsed
        with self.clock.measure("data"):
            self.feed = build_feed(cfg, self.data, fabric, self.quiet)
        self.per_epoch, self.total_steps, self.schedule = run_length(
            cfg.training, len(self.feed.train), "resize"
        )
        if resumed is not None:
            self._restore(resumed)
        minutes = cfg.training.max_minutes
        with TrainingProgress(self.total_steps, minutes, self.quiet, validates=False) as progress:
            while self.state.stop_reason is None:
                self._epoch(progress)
            summary = self._finish(sources)
            progress.finish(summary)
        return summary

    def _epoch(self, progress: TrainingProgress) -> None:
        fabric, state, clock = self.fabric, self.state, self.clock
        epoch, epoch_start = state.epoch, time.monotonic()
        rank = fabric.global_rank
        source = epoch_batches(self.feed, self.data.train, self.config.seed, epoch, rank)
        loss_sum, batches, images = 0.0, 0, 0
        self.wrapped.train()
        for index, batch in device_batches(self.feed, source, self.per_epoch, fabric, clock):
            loss = self._step(batch["image"], epoch, index)
            batches += 1
            images += batch["image"].shape[0] * fabric.world_size
            loss_sum += loss
            elapsed = time.monotonic() - self.started
            progress.update(state.step, elapsed, epoch, loss, 0.0)
            reason = budget_stop(self.config.training, state.step, elapsed)
            state.stop_reason = agreed_stop(fabric, reason)
            if state.stop_reason is not None:
                break
        state.images_seen += images
        state.epoch += 1
        seconds = time.monotonic() - epoch_start
        state.history.append(
            {
                "epoch": epoch,
                "step": state.step,
                "train_loss": self._mean_over_ranks(loss_sum / max(batches, 1)),
                "lr": self.optimizer.param_groups[0]["lr"],
                "seconds": seconds,
                "images_per_s": images / seconds if seconds > 0 else 0.0,
            }
        )
        state.elapsed = time.monotonic() - self.started
        due = self.cadence.should_checkpoint(
            state.epoch, state.elapsed, state.last_checkpoint_elapsed
        )
        if self.is_main and (state.stop_reason is not None or due):
            self._save_last()
        fabric.barrier()

    def _step(self, images: torch.Tensor, epoch: int, index: int) -> float:
        cfg, fabric = self.config.training, self.fabric
        with self.clock.measure("augment"), torch.no_grad():
            inputs, weights = self.task(images)
            if self.channels_last:
                inputs = inputs.contiguous(memory_format=torch.channels_last)
        with self.clock.measure("step"):
            loss = pretext_loss(self.wrapped(inputs), images, weights)
            finite = torch.isfinite(loss.detach()).float()
            if fabric.world_size > 1:
                finite = fabric.all_reduce(finite, reduce_op="min")
            if finite.item() < 1:
                raise SparsegError(
                    f"non-finite pretraining loss at epoch {epoch} batch {index}; lower "
                    "pretrain.lr or training.lr"
                )
            fabric.backward(loss)
            elapsed = time.monotonic() - self.started
            share = budget_progress(cfg, self.state.step, self.total_steps, elapsed)
            self.schedule.apply(self.optimizer, share)
            if cfg.grad_clip is not None:
                fabric.clip_gradients(self.wrapped, self.optimizer, max_norm=cfg.grad_clip)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.state.step += 1
        return float(loss.detach())

    def _mean_over_ranks(self, value: float) -> float:
        if self.fabric.world_size == 1:
            return value
        total = self.fabric.all_reduce(
            torch.tensor(value, device=self.fabric.device), reduce_op="mean"
        )
        return float(total)

    def _save_last(self) -> None:
        with self.clock.measure("checkpoint"):
            state = self.state
            state.last_checkpoint_elapsed = state.elapsed = time.monotonic() - self.started
            state.costs = dict(self.clock.seconds)
            save_last(
                self.paths.last,
                self.model,
                self.optimizer,
                self.schedule,
                self.fabric.strategy.precision,
                state=state,
                common=common_payload(self.config, self.in_channels, None),
            )

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        precision = self.fabric.strategy.precision
        restore_last(
            checkpoint, self.model, self.optimizer, self.schedule, precision, self.paths.last
        )

    def _finish(self, sources: dict[str, int]) -> dict[str, Any]:
        state, cfg = self.state, self.config
        losses = [row["train_loss"] for row in state.history]
        summary = {
            "weights": str(self.paths.weights),
            "sources": sources,
            "images": sum(sources.values()),
            "cases": self.cases,
            "in_channels": self.in_channels,
            "objective": cfg.pretrain.objective,
            "architecture": cfg.model.architecture,
            "encoder": cfg.model.encoder,
            "input_size": list(cfg.data.input_size),
            "epochs": state.epoch,
            "steps": state.step,
            "images_seen": state.images_seen,
            "minutes": round(state.elapsed / 60, 3),
            "wall_seconds": round(state.elapsed, 2),
            **self.clock.summary(state.elapsed),
            "stop_reason": state.stop_reason,
            "first_loss": losses[0] if losses else None,
            "final_loss": losses[-1] if losses else None,
            "loss_per_epoch": losses,
            "cache": self.feed.decision.reason,
            "world_size": self.fabric.world_size,
            "seed": cfg.seed,
        }
        if any(not math.isfinite(loss) for loss in losses):
            raise SparsegError("pretraining ended with a non-finite loss; weights not written")
        if self.is_main:
            weights = network_state(self.model)
            atomic_write(self.paths.weights, lambda tmp: torch.save(weights, tmp))
            atomic_write_json(self.paths.summary, summary)
        self.fabric.barrier()
        return summary
