"""A run's resumable state, the two checkpoint payloads built from it, and the resume policy.

``best.ckpt`` holds the inference network's weights only (small, written on improvement);
``last.ckpt`` holds everything an exact resume needs: weights with training heads, optimiser,
LR schedule, precision scaler, the weight average (``training.ema``) and :class:`RunState`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from sparseg.config import Config, ModelConfig, TrainingConfig
from sparseg.errors import SparsegError
from sparseg.models.checkpoint import load_model_weights, save_checkpoint

RESUME_MUST_MATCH = (
    "architecture",
    "encoder",
    "deep_supervision",
    "decoder_channels",
    "presence_head",
    "norm",
)


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
    costs: dict[str, float] = field(default_factory=dict)
    val_interval: int = 1
    epochs_since_validation: int = 0
    last_checkpoint_elapsed: float = 0.0
    lr_scale: float = 1.0
    restarts: list[dict[str, float]] = field(default_factory=list)
    network_started_at: float = 0.0  # progress at which the current network's weights began
    blank_since_start: bool = True  # every validation of the current network was blank
    smoothed_dice: float | None = None  # training.val_dice_smoothing's moving average


def common_payload(config: Config, in_channels: int, pos_weight: float | None) -> dict[str, Any]:
    return {
        "config": config.model_dump(mode="json"),
        "in_channels": in_channels,
        "pos_weight": pos_weight,
    }


def best_payload(
    weights: dict[str, torch.Tensor],
    epoch: int,
    dice: float,
    common: dict[str, Any],
    blank: bool = False,
) -> dict[str, Any]:
    """``best.ckpt``: the plain model's state dict, the epoch and its validation Dice;
    ``blank`` marks the network of a run that never left blank (:mod:`.blank_guard`)."""
    return {"model": weights, "epoch": epoch, "val_dice": dice, "blank": blank, **common}


def save_last(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: Any,
    precision: Any,
    *,
    state: RunState,
    common: dict[str, Any],
    ema_state: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write ``last.ckpt`` atomically: everything :func:`restore_last` and
    :func:`restored_state` need for an exact resume (``ema`` only when the run averages its
    weights)."""
    payload = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "precision": precision.state_dict(),
        "run": dict(vars(state)),
        **common,
    }
    if ema_state is not None:
        payload["ema"] = ema_state
    save_checkpoint(path, payload)


def restore_last(
    checkpoint: dict[str, Any],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: Any,
    precision: Any,
    path: Path,
) -> None:
    """Load a :func:`save_last` checkpoint back into the run's weights, optimiser, LR schedule and
    precision plugin (the weight average restores itself from ``checkpoint["ema"]``)."""
    load_model_weights(model, checkpoint["model"], path)
    optimizer.load_state_dict(checkpoint["optimizer"])
    schedule.load_state_dict(checkpoint["schedule"])
    precision.load_state_dict(checkpoint["precision"])


def check_resumable(checkpoint: dict[str, Any], config: Config, path: Path) -> None:
    """Refuse a resume whose config builds another network than the checkpoint holds."""
    # a key older checkpoints lack was at its default then
    trained = {**ModelConfig().model_dump(mode="json"), **checkpoint["config"]["model"]}
    wanted = config.model.model_dump(mode="json")
    for key in RESUME_MUST_MATCH:
        if trained[key] != wanted[key]:
            raise SparsegError(
                f"{path}: trained with model.{key}={trained[key]}, "
                f"the config asks for {wanted[key]}"
            )


def restored_state(checkpoint: dict[str, Any], config: TrainingConfig) -> RunState:
    state = RunState(**checkpoint["run"])
    state.stop_reason = stop_reason_after_resume(state, config)
    return state


def stop_reason_after_resume(state: RunState, cfg: TrainingConfig) -> str | None:
    """A finished run continues when the resumed config allows more epochs or steps."""
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
