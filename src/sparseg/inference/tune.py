"""``sparseg tune``: decide every inference step on the validation split, keep only what helps.

Greedy, in a fixed order (TTA, threshold, small-object removal, closing, hole filling, largest
component, CRF, empty-image gate by the largest pixel probability, the largest object, or, with a
presence head, the head's probability alone or together with the largest pixel probability):
each step's candidates are scored on validation and the best is kept only if it raises the mean
per-image Dice (empty-vs-empty = 1) by more than ``MIN_GAIN``.
The decision table (Dice without and with each step) is saved in ``inference.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sparseg.config import InferenceConfig
from sparseg.data.io import read_mask
from sparseg.data.pairs import discover_pairs
from sparseg.data.splits import choose_split
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
PRESENCE_PROBABILITIES = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
PRESENCE_WITH_MAX = (0.3, 0.5, 0.7)  # presence bounds tried together with each max-p bound


@dataclass
class ValCase:
    """One validation image: its gray image (the CRF's reference), truth, probabilities and
    the presence head's probability (None without a head), plain and with TTA."""

    id: str
    gray: np.ndarray
    truth: np.ndarray
    plain: np.ndarray
    tta: np.ndarray | None = None
    presence: float | None = None
    presence_tta: float | None = None


class Tuner:
    """Scores inference settings on cached validation probabilities and records decisions."""

    def __init__(self, cases: list[ValCase]) -> None:
        self.cases = cases
        self.decisions: list[dict[str, Any]] = []

    def dice(self, cfg: InferenceConfig) -> float:
        preds, truths = {}, {}
        for case in self.cases:
            with_tta = cfg.tta and case.tta is not None
            probability = case.tta if with_tta else case.plain
            presence = case.presence_tta if with_tta else case.presence
            preds[case.id] = finish_mask(probability, case.gray, cfg, presence)
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


def gate_candidates(
    cfg: InferenceConfig, sizes: list[int], presence: bool
) -> list[tuple[str, InferenceConfig]]:
    """The empty-image gate's settings: by the largest pixel probability, by the largest
    object, and with a presence head by its probability alone or together with the largest
    pixel probability (either below its bound: empty)."""

    def gate(**bounds: float) -> InferenceConfig:
        return _with(
            cfg, empty_gate__enabled=True, **{f"empty_gate__{k}": v for k, v in bounds.items()}
        )

    candidates = [(f"max p < {p}", gate(min_max_probability=p)) for p in GATE_PROBABILITIES]
    candidates += [(f"largest object < {s} px", gate(min_component_area=s)) for s in sizes]
    if presence:
        candidates += [
            (f"presence p < {p}", gate(min_presence_probability=p)) for p in PRESENCE_PROBABILITIES
        ]
        candidates += [
            (
                f"presence p < {q} or max p < {p}",
                gate(min_presence_probability=q, min_max_probability=p),
            )
            for q in PRESENCE_WITH_MAX
            for p in GATE_PROBABILITIES
        ]
    return candidates


def tune_steps(tuner: Tuner, base: InferenceConfig, mean_area: float) -> InferenceConfig:
    cfg = tuner.consider("tta", base, [("8-fold D4 TTA", _with(base, tta=True))])
    cfg = tuner.consider(
        "threshold", cfg, [(f"threshold {t}", _with(cfg, threshold=t)) for t in THRESHOLDS]
    )
    sizes = sorted({max(2, int(share * mean_area)) for share in OBJECT_SIZE_SHARES})
    presence = all(case.presence is not None for case in tuner.cases)
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
        ("empty-image gate", lambda c: gate_candidates(c, sizes, presence)),
    ]  # fmt: skip
    for step, candidates in steps:
        cfg = tuner.consider(step, cfg, candidates(cfg))
    return cfg


def tune(run_dir: Path, data_root: Path, split_file: Path | None = None, fold: int = 0) -> dict:
    """Tune the run's inference on validation; writes and returns ``inference.json``'s payload."""
    run_dir, data_root = Path(run_dir), Path(data_root)
    pairs = {pair.id: pair for pair in discover_pairs(data_root)}
    split = choose_split(pairs, split_file, fold, RunPaths(run_dir).split)
    if not split.val:
        raise SparsegError(f"{run_dir}: the validation split is empty; nothing to tune on")
    predictor = Predictor([run_dir], inference=InferenceConfig())
    trained = predictor.config
    base = _with(
        InferenceConfig(),
        sliding_window=trained.inference.sliding_window,
        window_overlap=trained.inference.window_overlap,
    )
    with_tta = _with(base, tta=True)
    label = trained.data.label
    cases = []
    for image_id in split.val:
        image = predictor.image(pairs[image_id].image)
        plain, presence = predictor.prediction(image, base)
        tta, presence_tta = predictor.prediction(image, with_tta)
        gray, truth = image.mean(0).numpy(), read_mask(pairs[image_id].mask, label)
        cases.append(ValCase(image_id, gray, truth, plain, tta, presence, presence_tta))
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
