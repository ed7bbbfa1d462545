"""Probabilities saved from a trained run, a stand-in for its checkpoint on another machine.

``sparseg save-probabilities``
(:func:`sparseg.inference.save_probabilities.save_probabilities`) writes
``RUN/probabilities.npz`` through :func:`write_saved_run`: for every item of the chosen
subsets of the run's split, the foreground probabilities on the model's grid (the training
size, or the native size with sliding windows), without and with TTA, and the presence head's
probability. A run folder holding only this file (its checkpoint trained elsewhere and not
carried: checkpoints are too large to commit) still tunes, evaluates and joins an ensemble
through :class:`sparseg.inference.predictor.Predictor`, as nnU-Net ensembles folds from saved
softmax files. Everything after the network (averaging, resizing back, threshold, CRF, gate) runs
as with the model itself; the probabilities are stored in 1/255 steps to stay small enough to
commit, so a mask can differ from the live model's only where a pixel lies within 1/255 of the
threshold.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sparseg.config import Config, InferenceConfig, validate_config
from sparseg.errors import SparsegError
from sparseg.io_utils import atomic_write
from sparseg.run_layout import RunPaths

FORMAT_VERSION = 1
LEVELS = 255  # probabilities are stored as round(p * LEVELS) in uint8
_META = "meta"


@dataclass
class SavedRun:
    """A run's saved probabilities, answering for its model (``Predictor`` member)."""

    path: Path
    config: Config
    in_channels: int
    subsets: dict[str, list[str]]
    grids: dict[str, dict[bool, np.ndarray]]  # id → TTA off/on → uint8 grid
    presences: dict[str, dict[bool, float | None]]

    def grid_prediction(
        self, image: torch.Tensor, item_id: str | None, cfg: InferenceConfig
    ) -> tuple[torch.Tensor, float | None]:
        """The saved grid and presence of ``item_id`` under ``cfg``'s TTA choice."""
        trained = self.config.inference
        if (cfg.sliding_window, cfg.window_overlap) != (
            trained.sliding_window,
            trained.window_overlap,
        ):
            raise SparsegError(
                f"{self.path}: saved with sliding_window={trained.sliding_window}, "
                f"window_overlap={trained.window_overlap}; predict with those or from the model"
            )
        if item_id is None or item_id not in self.grids:
            saved = ", ".join(f"{name} ({len(ids)})" for name, ids in self.subsets.items())
            raise SparsegError(
                f"{self.path}: no saved probabilities for {item_id or 'an image without id'} "
                f"(saved: {saved}); save that subset with `sparseg save-probabilities`"
            )
        grid = self.grids[item_id][cfg.tta]
        return torch.from_numpy(grid.astype(np.float32) / LEVELS), self.presences[item_id][cfg.tta]


def write_saved_run(saved: SavedRun) -> Path:
    """Write ``saved`` (grids already quantized by :func:`quantize`) to ``saved.path``."""
    arrays: dict[str, np.ndarray] = {
        _key(item_id, tta): grids[tta]
        for item_id, grids in saved.grids.items()
        for tta in (False, True)
    }
    meta = {
        "format": FORMAT_VERSION,
        "levels": LEVELS,
        "in_channels": saved.in_channels,
        "config": saved.config.model_dump(mode="json"),
        "subsets": saved.subsets,
        "presence": {item_id: [p[False], p[True]] for item_id, p in saved.presences.items()},
    }
    arrays[_META] = np.array(json.dumps(meta))
    atomic_write(saved.path, lambda tmp: _write_npz(tmp, arrays))
    return saved.path


def load_saved_run(run_dir: Path) -> SavedRun:
    """The saved probabilities of ``run_dir`` (refused, naming the file, when unreadable)."""
    path = RunPaths(run_dir).probabilities
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(str(npz[_META]))
            arrays = {name: npz[name] for name in npz.files if name != _META}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        raise SparsegError(f"{path}: not a readable probabilities file (save it again)") from None
    if meta.get("format") != FORMAT_VERSION or meta.get("levels") != LEVELS:
        raise SparsegError(f"{path}: written by another version of sparseg (save it again)")
    config = validate_config(meta["config"], str(path))
    grids: dict[str, dict[bool, np.ndarray]] = {}
    presences: dict[str, dict[bool, float | None]] = {}
    for item_id, (plain, tta) in meta["presence"].items():
        try:
            grids[item_id] = {tta: arrays[_key(item_id, tta)] for tta in (False, True)}
        except KeyError:
            raise SparsegError(f"{path}: probabilities of {item_id} missing (save again)") from None
        presences[item_id] = {False: plain, True: tta}
    return SavedRun(path, config, int(meta["in_channels"]), meta["subsets"], grids, presences)


def quantize(probability: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(probability * LEVELS), 0, LEVELS).astype(np.uint8)


def _key(item_id: str, tta: bool) -> str:
    return f"{'tta' if tta else 'plain'}:{item_id}"


def _write_npz(tmp: Path, arrays: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    tmp.write_bytes(buffer.getvalue())
