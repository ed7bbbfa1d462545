"""From a trained run (or several: an ensemble) to masks at each image's native size.

probabilities: normalise → resize to the training size (or sliding window) → TTA → average the
runs (each group of :func:`sparseg.run_layout.run_groups` weighs the same: a fold folder's folds
share their folder's weight) → resize back;  mask: :func:`sparseg.inference.finish.finish_mask`.
A run whose checkpoint is not here answers with its saved probabilities
(:mod:`sparseg.inference.saved_run`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from sparseg.config import Config, InferenceConfig, validate_config
from sparseg.data.dataset import load_image_tensor
from sparseg.data.discovery import Item
from sparseg.data.preprocess import Array, resize_image
from sparseg.errors import SparsegError
from sparseg.inference.image_predictor import ImagePredictor
from sparseg.inference.model_probability import grid_prediction
from sparseg.inference.saved_run import load_saved_run
from sparseg.io_utils import read_json
from sparseg.models import build_model, plain_model
from sparseg.models.checkpoint import load_checkpoint, load_model_weights
from sparseg.run_layout import RunPaths, run_groups


class Member(Protocol):
    """One run of a prediction: its model, or the probabilities it saved."""

    config: Config
    in_channels: int

    def grid_prediction(
        self, image: torch.Tensor, item_id: str | None, cfg: InferenceConfig
    ) -> tuple[torch.Tensor, float | None]: ...


@dataclass
class RunModel:
    model: torch.nn.Module
    config: Config
    in_channels: int

    def grid_prediction(
        self, image: torch.Tensor, item_id: str | None, cfg: InferenceConfig
    ) -> tuple[torch.Tensor, float | None]:
        return grid_prediction(self.model, image, self.config.data, cfg)


def load_member(run_dir: Path) -> Member:
    """The run's best checkpoint, or else its saved probabilities."""
    paths = RunPaths(run_dir)
    if paths.best.is_file():
        return load_run_model(run_dir)
    if paths.probabilities.is_file():
        return load_saved_run(run_dir)
    raise SparsegError(
        f"{run_dir}: no {paths.best.name} and no saved {paths.probabilities.name} "
        "(train the run first)"
    )


def load_run_model(run_dir: Path) -> RunModel:
    """The best checkpoint of a run as a plain inference model (no deep-supervision heads)."""
    path = RunPaths(run_dir).best
    if not path.is_file():
        raise SparsegError(f"{run_dir}: no {path.name} (train the run first)")
    checkpoint = load_checkpoint(path)
    config = validate_config(checkpoint["config"], str(path))
    plain = config.model.model_copy(update={"deep_supervision": False, "encoder_weights": None})
    model = build_model(plain, checkpoint["in_channels"])
    load_model_weights(plain_model(model), checkpoint["model"], path)
    return RunModel(model.eval(), config, int(checkpoint["in_channels"]))


def untuned_inference(trained: InferenceConfig) -> InferenceConfig:
    """Nothing tuned yet: only how the trained model sees an image (its sliding window)."""
    return InferenceConfig(
        sliding_window=trained.sliding_window, window_overlap=trained.window_overlap
    )


def load_inference_config(run_dir: Path, fallback: InferenceConfig) -> InferenceConfig:
    """``inference.json`` written by ``sparseg tune`` when present, else the run's config."""
    path = RunPaths(run_dir).inference
    if not path.is_file():
        return fallback
    payload = read_json(path)
    try:
        return InferenceConfig.model_validate(payload["inference"])
    except Exception:
        raise SparsegError(f"{path}: not a valid inference.json (rerun `sparseg tune`)") from None


class Predictor(ImagePredictor):
    """Averages the probabilities of one or more runs; applies the tuned inference steps.

    The inference steps are ``inference``, else the ``inference.json`` of the first run given
    (a fold folder's own, written by ``sparseg tune`` on the folder), else its trained config's.
    """

    def __init__(self, runs: list[Path], inference: InferenceConfig | None = None) -> None:
        groups = run_groups(runs)
        dirs = [run for group in groups for run in group]
        self.runs = dirs
        self.members = [load_member(run) for run in dirs]
        self.weights = [1 / (len(groups) * len(group)) for group in groups for _ in group]
        first = self.members[0]
        self.config = first.config
        self.data = first.config.data
        self.in_channels = first.in_channels
        mismatched = [
            str(d)
            for d, m in zip(dirs, self.members, strict=True)
            if m.in_channels != self.in_channels
        ]
        if mismatched:
            raise SparsegError(f"{mismatched[0]}: ensemble members differ in input channels")
        self.inference = inference or load_inference_config(Path(runs[0]), first.config.inference)

    def members_for(self, item_id: str | None) -> list[tuple[Member, float]]:
        """The runs that predict ``item_id``, with their weights: every run of the ensemble."""
        return list(zip(self.members, self.weights, strict=True))

    def image(self, item: Item | Path) -> torch.Tensor:
        """(C, H, W) unit-float tensor, refused when its channels don't fit the model."""
        return load_image_tensor(self._checked_item(item), self.in_channels)

    @torch.no_grad()
    def prediction(
        self,
        image: Array,
        inference: InferenceConfig | None = None,
        item_id: str | None = None,
    ) -> tuple[np.ndarray, float | None]:
        """Foreground probability (H, W) at the image's native size, averaged over the runs,
        with ``inference``'s TTA and windows (default: the tuned ones); and the presence
        heads' mean probability that the image has foreground (None unless every run has one).
        ``item_id`` finds the image among the saved probabilities of runs without a model."""
        image = torch.as_tensor(image)
        cfg = inference or self.inference
        native = tuple(image.shape[-2:])
        members = self.members_for(item_id)
        results = [(m.grid_prediction(image, item_id, cfg), weight) for m, weight in members]
        total = sum(weight for _, weight in results)
        probability = sum(resize_image(grid, native) * w for (grid, _), w in results) / total
        presences = [(presence, weight) for (_, presence), weight in results]
        presence = None
        if all(p is not None for p, _ in presences):
            presence = float(sum(p * w for p, w in presences if p is not None) / total)
        return probability.numpy(), presence
