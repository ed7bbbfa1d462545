"""Exponential moving average of the weights (``training.ema``), on timm's ``ModelEmaV3``.

The decay warm-up is keyed to the optimiser step the run keeps in its state, and the average
lives in ``last.ckpt``, so a resumed run continues the very same average. Validation,
``best.ckpt`` and therefore export and prediction use the averaged weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning_fabric import Fabric
from timm.utils import ModelEmaV3
from torch import nn

from sparseg.config import EmaConfig
from sparseg.models.checkpoint import load_model_weights


class WeightAverage:
    """The averaged copy of ``model`` (parameters and BatchNorm buffers), same device and
    memory format; :meth:`update` after each optimiser step."""

    def __init__(self, model: nn.Module, config: EmaConfig) -> None:
        self.ema = ModelEmaV3(
            model,
            decay=config.decay,
            use_warmup=config.warmup,
            warmup_power=config.warmup_power,
        )
        self.ema.module.requires_grad_(False)

    @property
    def module(self) -> nn.Module:
        return self.ema.module

    def update(self, model: nn.Module, step: int) -> None:
        """Fold ``model`` into the average after optimiser step ``step`` (1 = the first: the
        average starts as a copy)."""
        self.ema.update(model, step=step)

    def decay(self, step: int) -> float:
        return self.ema.get_decay(step)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.ema.module.state_dict()

    @torch.no_grad()
    def synced(self, fabric: Fabric) -> nn.Module:
        """The average, under DDP rank 0's on every rank (the one ``best.ckpt`` saves): DDP
        hands rank 0's BatchNorm buffers to the others only at each forward, so the averaged
        buffers drift apart between ranks."""
        if fabric.world_size > 1:
            for tensor in self.ema.module.state_dict().values():
                tensor.copy_(fabric.broadcast(tensor, src=0))
        return self.ema.module

    def restore(self, state: dict[str, Any] | None, model: nn.Module, source: Path) -> None:
        """The average saved in ``last.ckpt``; a checkpoint written without EMA starts it from
        the resumed weights."""
        if state is None:
            self.ema.set(model)
        else:
            load_model_weights(self.ema.module, state, source)


def build_weight_average(model: nn.Module, config: EmaConfig) -> WeightAverage | None:
    return WeightAverage(model, config) if config.enabled else None
