"""Checkpoints: written atomically (temp file + rename), read with ``weights_only=True``."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch

from sparseg.errors import SparsegError
from sparseg.io_utils import atomic_write

CHECKPOINT_FORMAT = 1


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors and plain values only); a crash never leaves a torn file."""
    payload = {"format": CHECKPOINT_FORMAT, **state}
    atomic_write(Path(path), lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint safely; a missing, truncated or foreign file is one clear error line."""
    path = Path(path)
    if path.is_dir():
        raise SparsegError(f"{path}: expected a checkpoint file, found a folder")
    if not path.is_file():
        raise SparsegError(f"{path}: checkpoint not found")
    if not zipfile.is_zipfile(path):
        raise SparsegError(f"{path}: not a readable sparseg checkpoint (truncated or not a zip)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged zip/pickle
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SparsegError(f"{path}: not a readable sparseg checkpoint ({reason[:120]})") from None
    if (
        not isinstance(state, dict)
        or state.get("format") != CHECKPOINT_FORMAT
        or "model" not in state
    ):
        raise SparsegError(f"{path}: not a sparseg checkpoint (missing format/model entries)")
    return state


def load_model_weights(model: torch.nn.Module, weights: dict[str, Any], source: Path) -> None:
    """Load a state dict, turning an architecture mismatch into one clear error line."""
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0]
        raise SparsegError(
            f"{source}: checkpoint does not fit the configured model ({detail[:160]})"
        ) from None
