"""``sparseg predict``, ``evaluate`` and ``save-probabilities``: write masks for a folder, predict
+ score, or save the probabilities of a run's split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sparseg.config import Config, InferenceConfig
from sparseg.data.discovery import Item
from sparseg.data.items import read_item_mask
from sparseg.data.resolve import ItemSelection
from sparseg.data.splits import check_subset
from sparseg.data.volumes import Slicing, is_nifti, volume_plane
from sparseg.errors import SparsegError
from sparseg.evaluation.score import (
    add_volume_scores,
    json_safe,
    score_arrays,
    score_volumes,
    write_per_image_csv,
)
from sparseg.inference.mask_files import PredictionWriter, prediction_inputs, write_predictions
from sparseg.inference.predictor import Predictor, untuned_inference
from sparseg.inference.saved_probabilities import (
    SavedRun,
    load_saved_run,
    quantize,
    write_saved_run,
)
from sparseg.io_utils import atomic_write_json, ensure_output_dir
from sparseg.run_layout import (
    MASKS_DIR,
    METRICS_JSON,
    PER_IMAGE_CSV,
    RunPaths,
    fold_index,
)


def predict_folder(
    runs: list[Path], input_path: Path, out_dir: Path, probabilities: bool = False
) -> list[str]:
    """One binary mask PNG (0/255) per input image at its native size, named by id; one mask
    volume per input volume or stack, named by case (see :mod:`sparseg.inference.mask_files`)."""
    predictor = Predictor(runs)
    pairs, out_dir = prediction_inputs(input_path, out_dir, Slicing.of(predictor.config.data))
    results = predictor.predict_items(pairs)
    return write_predictions(results, out_dir, probabilities, predictor.inference)


def evaluate_runs(
    runs: list[Path],
    data_root: Path,
    *,
    split_file: Path | None = None,
    fold: int = 0,
    subset: str = "test",
    out_dir: Path | None = None,
) -> dict[str, Any]:
    """Predict the ``subset`` of the run's split and score it in every convention.

    Writes ``masks/``, ``metrics_per_image.csv`` and ``metrics.json`` into ``out_dir``
    (default ``RUN_DIR/eval_<subset>``). A fold or selection folder's split is its first fold's.
    """
    check_subset(subset)
    predictor = Predictor(runs)
    selection = ItemSelection.of_run(
        runs[0], data_root, predictor.config.data, split_file=split_file, fold=fold
    )
    items = selection.subset_items(subset)
    if not items:
        raise SparsegError(f"{runs[0]}: the {subset} split is empty; nothing to evaluate")
    out_dir = ensure_output_dir(out_dir or RunPaths(runs[0]).eval_dir(subset), Path(data_root))
    scored = score_predictions(predictor, items, out_dir)
    summary = {
        **scored.summary,
        "subset": subset,
        "runs": [str(r) for r in runs],
        "data_root": str(Path(data_root).resolve()),
    }
    return scored.write(summary)


@dataclass
class Scored:
    """Predictions scored by :func:`score_predictions`: the masks as written, the truths, the
    per-image rows and the summary (slices and volumes), and where they go."""

    out_dir: Path
    masks: dict[str, np.ndarray]
    truths: dict[str, np.ndarray]
    rows: list[dict[str, Any]]
    summary: dict[str, Any]

    def write(self, summary: dict[str, Any]) -> dict[str, Any]:
        """Write ``metrics_per_image.csv`` and ``summary`` as ``metrics.json``; returns it."""
        write_per_image_csv(self.out_dir / PER_IMAGE_CSV, self.rows)
        summary = json_safe(summary)
        atomic_write_json(self.out_dir / METRICS_JSON, summary)
        return summary


def score_predictions(predictor: Predictor, items: list[Item], out_dir: Path) -> Scored:
    """Predict ``items`` with ``predictor``'s inference, write their masks into
    ``out_dir/masks`` and score them in every convention (volumes: per volume in 3D as well)."""
    label = predictor.config.data.label
    selected = sorted(items, key=lambda pair: (pair.group, pair.slice_index or 0))
    preds: dict[str, np.ndarray] = {}
    truths: dict[str, np.ndarray] = {}
    writer = PredictionWriter(out_dir / MASKS_DIR, inference=predictor.inference, keep_volumes=True)
    for pair, probability, mask in predictor.predict_items(selected):
        preds[pair.id], truths[pair.id] = mask, read_item_mask(pair, label)
        writer.add(pair, probability, mask)
    writer.close()
    for pair in selected:  # slices as written, after the 3D step
        if pair.is_slice:
            nifti = is_nifti(pair.image)
            volume = writer.volumes[pair.group]
            preds[pair.id] = volume_plane(volume, pair.slice_axis, pair.slice_index, nifti)  # type: ignore[arg-type]
    rows, summary = score_arrays(
        preds, truths, predictor.config.evaluation, full=True, seed=predictor.config.seed
    )
    volumes = score_volumes(selected, writer.volumes.__getitem__, label)
    summary = add_volume_scores(summary, volumes, out_dir)
    return Scored(out_dir, preds, truths, rows, summary)


def save_probabilities(
    run_dir: Path,
    data_root: Path,
    *,
    split_file: Path | None = None,
    fold: int = 0,
    subsets: tuple[str, ...] = ("test",),
) -> list[Path]:
    """Write ``RUN/probabilities.npz`` for the ``subsets`` of the run's split, without and with
    TTA (see :mod:`sparseg.inference.saved_probabilities`); for a fold folder, that of every
    fold, each for the subsets of its own fold (``split_file``'s fold K, else its own
    ``split.json``). Subsets saved before and not asked again are kept."""
    paths = RunPaths(run_dir)
    if paths.is_fold_folder:
        return [
            save_run_probabilities(
                run,
                data_root,
                split_file=split_file,
                fold=fold_index(run) or 0,
                subsets=subsets,
            )
            for run in paths.fold_runs()
        ]
    return [
        save_run_probabilities(
            paths.root, data_root, split_file=split_file, fold=fold, subsets=subsets
        )
    ]


def save_run_probabilities(
    run_dir: Path,
    data_root: Path,
    *,
    split_file: Path | None,
    fold: int,
    subsets: tuple[str, ...],
) -> Path:
    """:func:`save_probabilities` for one run with a model."""
    run_dir = Path(run_dir)
    paths = RunPaths(run_dir)
    if not paths.best.is_file():
        raise SparsegError(f"{run_dir}: no {paths.best.name}; probabilities come from a model")
    for subset in subsets:
        check_subset(subset)
    predictor = Predictor([run_dir], inference=InferenceConfig())
    config, member = predictor.config, predictor.members[0]
    selection = ItemSelection.of_run(
        run_dir, data_root, config.data, split_file=split_file, fold=fold
    )
    pairs = selection.items
    chosen = {subset: selection.subset(subset) for subset in subsets}
    kept = _saved_before(paths, config)
    if kept is not None:
        chosen = {**{s: ids for s, ids in kept.subsets.items() if s not in chosen}, **chosen}
    plain = untuned_inference(config.inference)
    views = {False: plain, True: plain.model_copy(update={"tta": True})}
    grids: dict[str, dict[bool, np.ndarray]] = {}
    presences: dict[str, dict[bool, float | None]] = {}
    asked = {i for s in subsets for i in chosen[s]}
    for item_id in sorted({i for ids in chosen.values() for i in ids}):
        if kept is not None and item_id not in asked and item_id in kept.grids:
            grids[item_id], presences[item_id] = kept.grids[item_id], kept.presences[item_id]
            continue
        image = predictor.image(pairs[item_id])
        grids[item_id], presences[item_id] = {}, {}
        for tta, cfg in views.items():
            grid, presence = member.grid_prediction(image, item_id, cfg)
            grids[item_id][tta] = quantize(grid.numpy())
            presences[item_id][tta] = presence
    saved = SavedRun(paths.probabilities, config, predictor.in_channels, chosen, grids, presences)
    return write_saved_run(saved)


def _saved_before(paths: RunPaths, config: Config) -> SavedRun | None:
    """The run's probabilities saved earlier from this same model, if readable (saved after
    the checkpoint was written, from the same config)."""
    if not paths.probabilities.is_file():
        return None
    if paths.probabilities.stat().st_mtime < paths.best.stat().st_mtime:
        return None
    try:
        saved = load_saved_run(paths.root)
    except SparsegError:
        return None
    return saved if saved.config == config else None
