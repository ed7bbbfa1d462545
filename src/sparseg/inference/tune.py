"""``sparseg tune``: decide every inference step on the validation split, keep only what helps.

Greedy, in a fixed order (TTA, threshold, small-object removal, closing, hole filling, largest
component, CRF, empty-image gate): each step's candidates are scored on validation and the best
is kept only if it raises the mean per-image Dice (empty-vs-empty = 1) by more than ``MIN_GAIN``.
The decision table (Dice without and with each step) is saved in ``inference.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sparseg.config import InferenceConfig
from sparseg.data.items import read_item_mask
from sparseg.data.pairs import discover_pairs
from sparseg.data.splits import choose_split
from sparseg.data.volumes import Slicing
from sparseg.errors import SparsegError
from sparseg.evaluation.score import score_arrays
from sparseg.inference.finish import finish_mask
from sparseg.inference.predictor import Predictor
from sparseg.io_utils import atomic_write_json
from sparseg.run_layout import HEADLINE_METRIC, RunPaths

MIN_GAIN = 1e-3  # a step must beat noise-level ties (0.1 Dice points) to be kept
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.05, 0.96, 0.05))
OBJECT_SIZE_SHARES = (0.0002, 0.0005, 0.001, 0.002, 0.005)  # of the mean image area
CLOSING_RADII = (1, 2, 3, 5)
CRF_BILATERAL_SXY = (10.0, 30.0, 60.0)
GATE_PROBABILITIES = (0.6, 0.7, 0.8, 0.9, 0.95)


@dataclass
class ValCase:
    """One validation image: its gray image (the CRF's reference), truth and probabilities."""

    id: str
    gray: np.ndarray
    truth: np.ndarray
    plain: np.ndarray
    tta: np.ndarray | None = None


class Tuner:
    """Scores inference settings on cached validation probabilities and records decisions."""

    def __init__(self, cases: list[ValCase]) -> None:
        self.cases = cases
        self.decisions: list[dict[str, Any]] = []

    def dice(self, cfg: InferenceConfig) -> float:
        preds, truths = {}, {}
        for case in self.cases:
            probability = case.tta if cfg.tta and case.tta is not None else case.plain
            preds[case.id] = finish_mask(probability, case.gray, cfg)
            truths[case.id] = case.truth
        _, summary = score_arrays(preds, truths, full=False, bootstrap=0)
        return float(summary[HEADLINE_METRIC])

    def consider(
        self, step: str, current: InferenceConfig, candidates: list[tuple[str, InferenceConfig]]
    ) -> InferenceConfig:
        without = self.dice(current)
        scored = [(self.dice(cfg), label, cfg) for label, cfg in candidates]
        best, label, cfg = max(scored, key=lambda item: item[0])
        kept = best > without + MIN_GAIN
        self.decisions.append(
            {
                "step": step,
                "setting": label,
                "dice_without": without,
                "dice_with": best,
                "kept": kept,
            }
        )
        return cfg if kept else current


def _with(cfg: InferenceConfig, **changes: Any) -> InferenceConfig:
    """A copy of ``cfg`` with dotted sub-section changes, e.g. ``postprocess__fill_holes=True``."""
    data = cfg.model_dump()
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            data[section][field] = value
        else:
            data[section] = value
    return InferenceConfig.model_validate(data)


def tune_steps(tuner: Tuner, base: InferenceConfig, mean_area: float) -> InferenceConfig:
    cfg = tuner.consider("tta", base, [("8-fold D4 TTA", _with(base, tta=True))])
    cfg = tuner.consider(
        "threshold", cfg, [(f"threshold {t}", _with(cfg, threshold=t)) for t in THRESHOLDS]
    )
    sizes = sorted({max(2, int(share * mean_area)) for share in OBJECT_SIZE_SHARES})
    steps: list[tuple[str, Callable[[InferenceConfig], list[tuple[str, InferenceConfig]]]]] = [
        ("remove small objects", lambda c: [
            (f"min size {s} px", _with(c, postprocess__min_object_size=s)) for s in sizes
        ]),
        ("closing", lambda c: [
            (f"disk radius {r}", _with(c, postprocess__closing_radius=r)) for r in CLOSING_RADII
        ]),
        ("fill holes", lambda c: [("on", _with(c, postprocess__fill_holes=True))]),
        ("keep largest component", lambda c: [("on", _with(c, postprocess__keep_largest=True))]),
        ("dense CRF", lambda c: [
            (f"bilateral sxy {s}", _with(c, crf__enabled=True, crf__bilateral_sxy=s))
            for s in CRF_BILATERAL_SXY
        ]),
        ("empty-image gate", lambda c: [
            (f"max p < {p}", _with(c, empty_gate__enabled=True, empty_gate__min_max_probability=p))
            for p in GATE_PROBABILITIES
        ] + [
            (f"largest object < {s} px",
             _with(c, empty_gate__enabled=True, empty_gate__min_component_area=s))
            for s in sizes
        ]),
    ]  # fmt: skip
    for step, candidates in steps:
        cfg = tuner.consider(step, cfg, candidates(cfg))
    return cfg


def tune(run_dir: Path, data_root: Path, split_file: Path | None = None, fold: int = 0) -> dict:
    """Tune the run's inference on validation; writes and returns ``inference.json``'s payload."""
    run_dir, data_root = Path(run_dir), Path(data_root)
    predictor = Predictor([run_dir], inference=InferenceConfig())
    trained = predictor.config
    slicing = Slicing.of(trained.data)
    pairs = {pair.id: pair for pair in discover_pairs(data_root, slicing=slicing)}
    split = choose_split(pairs, split_file, fold, RunPaths(run_dir).split)
    if not split.val:
        raise SparsegError(f"{run_dir}: the validation split is empty; nothing to tune on")
    base = _with(
        InferenceConfig(),
        sliding_window=trained.inference.sliding_window,
        window_overlap=trained.inference.window_overlap,
    )
    with_tta = _with(base, tta=True)
    label = trained.data.label
    cases = []
    for image_id in split.val:
        image = predictor.image(pairs[image_id])
        cases.append(
            ValCase(
                image_id,
                image.mean(0).numpy(),
                read_item_mask(pairs[image_id], label),
                predictor.probabilities(image, base),
                predictor.probabilities(image, with_tta),
            )
        )
    tuner = Tuner(cases)
    mean_area = float(np.mean([case.truth.size for case in cases]))
    baseline = tuner.dice(base)
    tuned = tune_steps(tuner, base, mean_area)
    payload = {
        "inference": tuned.model_dump(mode="json"),
        "decisions": tuner.decisions,
        "baseline_val_dice": baseline,
        "tuned_val_dice": tuner.dice(tuned),
        "n_val_images": len(cases),
        "criterion": HEADLINE_METRIC,
    }
    atomic_write_json(RunPaths(run_dir).inference, payload)
    return payload
