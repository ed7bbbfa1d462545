"""``sparseg tune``: decide every inference step on the validation split, keep only what helps;
for a cross-validated ensemble, on the out-of-fold predictions of all its folds.

Greedy, in a fixed order (TTA, threshold, small-object removal, closing, hole filling, largest
component, CRF, empty-image gate by the largest pixel probability, the largest object, or, with a
presence head, the head's probability alone or together with the largest pixel probability):
each step's candidates are scored on validation and the best is kept only if it raises the mean
per-image Dice (empty-vs-empty = 1) by more than ``MIN_GAIN``. Volume data then decides small
3D-object removal on the validation volumes (pooled 3D Dice).
The decision table (Dice without and with each step) is saved in ``inference.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sparseg.config import InferenceConfig
from sparseg.data.discovery import Item
from sparseg.data.items import read_item_mask
from sparseg.data.resolve import ItemSelection
from sparseg.data.volumes import assemble, read_mask_volume, volume_info
from sparseg.errors import SparsegError
from sparseg.evaluation.metrics import confusion_counts
from sparseg.evaluation.score import score_arrays
from sparseg.inference.finish import ungated_mask
from sparseg.inference.gate import apply_empty_gate
from sparseg.inference.out_of_fold import OutOfFoldPredictor
from sparseg.inference.postprocess import remove_small_objects_3d
from sparseg.inference.predictor import Predictor, untuned_inference
from sparseg.io_utils import atomic_write_json
from sparseg.run_layout import HEADLINE_METRIC, RunPaths, fold_index

MIN_GAIN = 1e-3  # a step must beat noise-level ties (0.1 Dice points) to be kept
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.05, 0.96, 0.05))
OBJECT_SIZE_SHARES = (0.0002, 0.0005, 0.001, 0.002, 0.005)  # of the mean image area
CLOSING_RADII = (1, 2, 3, 5)
CRF_BILATERAL_SXY = (10.0, 30.0, 60.0)
GATE_PROBABILITIES = (0.6, 0.7, 0.8, 0.9, 0.95)
PRESENCE_PROBABILITIES = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
PRESENCE_WITH_MAX = (0.3, 0.5, 0.7)  # presence bounds tried together with each max-p bound
VOXEL_SIZES = (3, 5, 10, 20, 50, 100)  # 3D small-object removal candidates (volumes)
UNGATED_KEPT = 4  # settings whose masks before the gate a Tuner keeps


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
        # The gate's candidates share one mask before the gate (and a step's "without" is the
        # last step's choice): kept for the last few settings, the CRF runs once per setting.
        self._ungated: dict[str, dict[str, np.ndarray]] = {}

    def masks(self, cfg: InferenceConfig) -> dict[str, np.ndarray]:
        """The finished validation masks under ``cfg``, by id."""
        ungated = self._ungated_masks(cfg)
        masks = {}
        for case in self.cases:
            probability, presence = _evidence(case, cfg)
            masks[case.id] = apply_empty_gate(
                ungated[case.id], probability, cfg.empty_gate, presence
            )
        return masks

    def _ungated_masks(self, cfg: InferenceConfig) -> dict[str, np.ndarray]:
        key = cfg.model_dump_json(exclude={"empty_gate"})
        if key not in self._ungated:
            if len(self._ungated) >= UNGATED_KEPT:
                del self._ungated[next(iter(self._ungated))]  # the oldest
            self._ungated[key] = {
                case.id: ungated_mask(_evidence(case, cfg)[0], case.gray, cfg)
                for case in self.cases
            }
        return self._ungated[key]

    def dice(self, cfg: InferenceConfig) -> float:
        truths = {case.id: case.truth for case in self.cases}
        _, image_scores = score_arrays(self.masks(cfg), truths, full=False, bootstrap=0)
        return image_scores.figure(HEADLINE_METRIC)

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


def _evidence(case: ValCase, cfg: InferenceConfig) -> tuple[np.ndarray, float | None]:
    """The case's probabilities and presence, with TTA when ``cfg`` asks and they exist."""
    if cfg.tta and case.tta is not None:
        return case.tta, case.presence_tta
    return case.plain, case.presence


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
        (
            "remove small objects",
            lambda c: [
                (f"min size {s} px", _with(c, postprocess__min_object_size=s)) for s in sizes
            ],
        ),
        (
            "closing",
            lambda c: [
                (f"disk radius {r}", _with(c, postprocess__closing_radius=r)) for r in CLOSING_RADII
            ],
        ),
        ("fill holes", lambda c: [("on", _with(c, postprocess__fill_holes=True))]),
        ("keep largest component", lambda c: [("on", _with(c, postprocess__keep_largest=True))]),
        (
            "dense CRF",
            lambda c: [
                (f"bilateral sxy {s}", _with(c, crf__enabled=True, crf__bilateral_sxy=s))
                for s in CRF_BILATERAL_SXY
            ],
        ),
        ("empty-image gate", lambda c: gate_candidates(c, sizes, presence)),
    ]
    for step, candidates in steps:
        cfg = tuner.consider(step, cfg, candidates(cfg))
    return cfg


def tune_volume_step(
    tuner: Tuner, cfg: InferenceConfig, val_items: list[Item], label: int | None
) -> InferenceConfig:
    """Volume data: small 3D objects removed after the slices are put back together, kept when
    it raises the pooled 3D Dice of the validation volumes by more than ``MIN_GAIN``."""
    cases: dict[str, list[Item]] = {}
    for item in val_items:
        if item.is_slice:
            cases.setdefault(item.group, []).append(item)
    if not cases:
        return cfg
    masks = tuner.masks(cfg)
    volumes = []
    for items in cases.values():
        info = volume_info(items[0].image)
        planes = {int(p.slice_index): masks[p.id] for p in items}  # type: ignore[arg-type]
        prediction = assemble(planes, info, int(items[0].slice_axis), bool)  # type: ignore[arg-type]
        volumes.append((prediction, read_mask_volume(items[0].mask, label)))  # type: ignore[arg-type]

    def pooled_dice(size: int) -> float:
        tp = fp = fn = 0
        for prediction, truth in volumes:
            counts = confusion_counts(remove_small_objects_3d(prediction, size), truth)
            tp, fp, fn = tp + counts["tp"], fp + counts["fp"], fn + counts["fn"]
        return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")

    without = pooled_dice(0)
    best, size = max((pooled_dice(size), size) for size in VOXEL_SIZES)
    kept = best > without + MIN_GAIN
    tuner.decisions.append(
        {
            "step": "remove small 3D objects (pooled 3D Dice)",
            "setting": f"min size {size} voxels",
            "dice_without": without,
            "dice_with": best,
            "kept": kept,
        }
    )
    return _with(cfg, postprocess__min_object_size_3d=size) if kept else cfg


def tune(run_dir: Path, data_root: Path, *, split_file: Path | None = None, fold: int = 0) -> dict:
    """Tune the run's inference on its validation images and write ``inference.json``.

    A fold folder (``train --fold all``) or a ``sparseg select`` folder is tuned once, for its
    ensemble, on the out-of-fold predictions of all its folds: each training image predicted by
    the fold that held it out (``split_file``, when given, must name the folds' own validation
    ids). Returns the payload written.
    """
    run_dir, data_root = Path(run_dir), Path(data_root)
    paths = RunPaths(run_dir)
    cross_validated = paths.is_fold_folder or paths.selection.is_file()
    predictor: Predictor
    if cross_validated:
        predictor = OutOfFoldPredictor([run_dir], inference=InferenceConfig())
    else:
        predictor = Predictor([run_dir], inference=InferenceConfig())
    trained = predictor.config
    selection = ItemSelection.of_run(
        run_dir, data_root, trained.data, split_file=split_file, fold=fold
    )
    items = selection.items
    if isinstance(predictor, OutOfFoldPredictor):
        predictor.check_known(items)
        if split_file is not None:
            _check_folds(predictor, selection)
        val_ids = predictor.ids
    else:
        val_ids = selection.subset("val")
    if not val_ids:
        raise SparsegError(f"{run_dir}: the validation split is empty; nothing to tune on")
    base = untuned_inference(trained.inference)
    with_tta = _with(base, tta=True)
    label = trained.data.label
    cases = []
    for image_id in val_ids:
        image = predictor.image(items[image_id])
        plain, presence = predictor.prediction(image, base, image_id)
        tta, presence_tta = predictor.prediction(image, with_tta, image_id)
        gray, truth = image.mean(0).numpy(), read_item_mask(items[image_id], label)
        cases.append(ValCase(image_id, gray, truth, plain, tta, presence, presence_tta))
    tuner = Tuner(cases)
    mean_area = float(np.mean([case.truth.size for case in cases]))
    baseline = tuner.dice(base)
    tuned = tune_steps(tuner, base, mean_area)
    tuned = tune_volume_step(tuner, tuned, [items[i] for i in val_ids], label)
    payload = {
        "inference": tuned.model_dump(mode="json"),
        "decisions": tuner.decisions,
        "baseline_val_dice": baseline,
        "tuned_val_dice": tuner.dice(tuned),
        "n_val_images": len(cases),
        "criterion": HEADLINE_METRIC,
        "tuned_on": (
            f"out-of-fold predictions of {len(predictor.runs)} fold(s)"
            if cross_validated
            else "the run's validation images"
        ),
    }
    atomic_write_json(paths.inference, payload)
    return payload


def _check_folds(predictor: OutOfFoldPredictor, selection: ItemSelection) -> None:
    """The split file's fold K must hold out what ``fold_K`` held out."""
    for folds in predictor.folds.values():
        for fold in folds:
            index = fold_index(fold.run) or 0
            expected = selection.split(fold=index).val
            if sorted(expected) != sorted(fold.ids):
                raise SparsegError(
                    f"{selection.split_file}: fold {index} holds out other images than {fold.run}; "
                    "leave --split out to tune on the folds' own validation images"
                )
