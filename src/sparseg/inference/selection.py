"""``sparseg select``: which cross-validated configuration, or pair of them, to use — ranked on
out-of-fold Dice, as nnU-Net's ``find_best_configuration`` ranks its configurations and their
ensembles.

Each ``--fold all`` folder given is a candidate, and so is every pair of them (the mean of the
two folders' out-of-fold probabilities, as their fold ensembles would average). A candidate's
score is the mean per-image Dice (empty prediction of an empty mask = 1) of its out-of-fold
predictions at its best threshold, without TTA or post-processing: every candidate is finished
the same way, so the ranking compares the networks, not their tuning. A pair must beat the best
single configuration by more than the tuner's noise margin to be chosen, since it costs twice
the prediction time. The choice is written as a folder that ``predict``, ``evaluate`` and
``export`` take as ``--run``: ``selection.json`` (the chosen folders, the ranking, the reason in
one line) and ``inference.json``, tuned on the chosen candidate's out-of-fold predictions.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sparseg.config import InferenceConfig
from sparseg.data.items import read_item_mask
from sparseg.data.resolve import ItemSelection
from sparseg.data.volumes import Slicing
from sparseg.errors import SparsegError
from sparseg.evaluation.score import score_arrays
from sparseg.inference.out_of_fold import OutOfFoldPredictor
from sparseg.inference.predictor import untuned_inference
from sparseg.inference.tune import MIN_GAIN, THRESHOLDS, tune
from sparseg.io_utils import atomic_write_json, ensure_output_dir
from sparseg.run_layout import HEADLINE_METRIC, RunPaths


@dataclass(frozen=True)
class Ranked:
    """A candidate's out-of-fold Dice at its best threshold and at 0.5."""

    folders: tuple[Path, ...]
    dice: float
    threshold: float
    dice_at_half: float

    @property
    def name(self) -> str:
        return " + ".join(folder.name for folder in self.folders)

    def row(self) -> dict[str, Any]:
        return {
            "candidate": self.name,
            "folders": [str(folder) for folder in self.folders],
            "dice": self.dice,
            "threshold": self.threshold,
            "dice_at_0.5": self.dice_at_half,
        }


def select(folders: list[Path], data_root: Path, out_dir: Path) -> dict[str, Any]:
    """Rank ``folders`` and their pairs on out-of-fold Dice, write the winner into ``out_dir``
    (``selection.json``, then its tuned ``inference.json``) and return ``selection.json``'s
    payload with the tuning's under ``tuned``."""
    folders = [Path(folder) for folder in folders]
    if len({folder.resolve() for folder in folders}) != len(folders):
        raise SparsegError("select: a folder is given twice")
    data_root = Path(data_root)
    out_dir = ensure_output_dir(out_dir, data_root, *folders)
    probabilities, truths = _out_of_fold(folders, data_root)
    candidates = [(folder,) for folder in folders]
    candidates += list(itertools.combinations(folders, 2))
    ranking = sorted(
        (_rank(c, probabilities, truths) for c in candidates),
        key=lambda ranked: -ranked.dice,
    )
    best_single = max((r for r in ranking if len(r.folders) == 1), key=lambda r: r.dice)
    chosen = ranking[0] if ranking[0].dice > best_single.dice + MIN_GAIN else best_single
    runner_up = next((r for r in ranking if r is not chosen), None)
    reason = f"{chosen.name}: out-of-fold Dice {chosen.dice:.3f} at threshold {chosen.threshold:g}"
    if runner_up is not None:
        reason += f", against {runner_up.dice:.3f} for {runner_up.name}"
        if len(runner_up.folders) > len(chosen.folders) and runner_up.dice >= chosen.dice:
            reason += f" (a pair must gain more than {MIN_GAIN:g} to be worth two networks)"
    payload: dict[str, Any] = {
        "members": [os.path.relpath(f.resolve(), out_dir.resolve()) for f in chosen.folders],
        "criterion": f"{HEADLINE_METRIC} of the out-of-fold predictions at the best threshold",
        "ranking": [ranked.row() for ranked in ranking],
        "reason": reason,
        "n_images": len(truths),
    }
    atomic_write_json(RunPaths(out_dir).selection, payload)
    return {**payload, "tuned": tune(out_dir, data_root)}


def _out_of_fold(
    folders: list[Path], data_root: Path
) -> tuple[dict[Path, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Each folder's untuned out-of-fold probabilities by id, and the truths; refused where
    the folders did not cross-validate the same images."""
    probabilities: dict[Path, dict[str, np.ndarray]] = {}
    truths: dict[str, np.ndarray] = {}
    for folder in folders:
        predictor = OutOfFoldPredictor([folder], inference=InferenceConfig())
        base = untuned_inference(predictor.config.inference)
        items = ItemSelection(data_root, slicing=Slicing.of(predictor.config.data)).items
        predictor.check_known(items)
        if truths and sorted(truths) != predictor.ids:
            raise SparsegError(
                f"{folder}: cross-validated other images than {folders[0]}; compare "
                "configurations trained with one split file"
            )
        probabilities[folder] = {}
        for item_id in predictor.ids:
            image = predictor.image(items[item_id])
            probability, _ = predictor.prediction(image, base, item_id)
            probabilities[folder][item_id] = probability.astype(np.float16)
            if item_id not in truths:
                truths[item_id] = read_item_mask(items[item_id], predictor.config.data.label)
    return probabilities, truths


def _rank(
    folders: tuple[Path, ...],
    probabilities: dict[Path, dict[str, np.ndarray]],
    truths: dict[str, np.ndarray],
) -> Ranked:
    mean = {
        item_id: sum(probabilities[f][item_id].astype(np.float32) for f in folders) / len(folders)
        for item_id in truths
    }

    def dice(threshold: float) -> float:
        masks = {item_id: p > threshold for item_id, p in mean.items()}
        _, image_scores = score_arrays(masks, truths, full=False, bootstrap=0)
        return image_scores.figure(HEADLINE_METRIC)

    scores = {threshold: dice(threshold) for threshold in THRESHOLDS}
    best = max(scores, key=lambda t: scores[t])
    return Ranked(folders, scores[best], best, scores[0.5])
