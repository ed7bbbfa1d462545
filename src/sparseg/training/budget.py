"""When a run stops: its budget of optimiser steps and wall-clock minutes, agreed on by every
rank, and how far through the budget it is (what the LR schedule follows)."""

from __future__ import annotations

import torch
from lightning_fabric import Fabric

from sparseg.config import TrainingConfig


def budget_progress(config: TrainingConfig, step: int, total_steps: int, elapsed: float) -> float:
    """The share of the run done: by steps, or by the wall-clock budget when that is further."""
    by_steps = step / total_steps
    if config.max_minutes is None:
        return by_steps
    return max(by_steps, elapsed / (config.max_minutes * 60))


def budget_stop(config: TrainingConfig, step: int, elapsed: float) -> str | None:
    """``max_steps`` or ``max_minutes`` once that budget is spent, else None."""
    if config.max_steps is not None and step >= config.max_steps:
        return "max_steps"
    if config.max_minutes is not None and elapsed >= config.max_minutes * 60:
        return "max_minutes"
    return None


def agreed_stop(fabric: Fabric, reason: str | None) -> str | None:
    """The stop reason every rank acts on: under DDP all ranks stop at the same step, as soon
    as one of them has spent its minutes."""
    if fabric.world_size == 1:
        return reason
    stop = torch.tensor(float(reason is not None), device=fabric.device)
    if fabric.all_reduce(stop, reduce_op="max").item() > 0:
        return reason or "max_minutes"
    return None
