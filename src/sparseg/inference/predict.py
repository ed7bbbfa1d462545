"""``sparseg predict``, ``evaluate`` and ``save-probabilities``: write masks for a folder, predict
+ score, or save the probabilities of a run's split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sparseg.config import InferenceConfig
from sparseg.data.items import read_item_mask
from sparseg.data.pairs import discover_pairs
from sparseg.data.splits import check_subset, choose_split
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
from sparseg.inference.saved_probabilities import SavedRun, quantize, write_saved_run
from sparseg.io_utils import atomic_write_json, ensure_output_dir
from sparseg.run_layout import MASKS_DIR, METRICS_JSON, PER_IMAGE_CSV, RunPaths


def predict_folder(
    runs: list[Path], input_path: Path, out_dir: Path, probabilities: bool = False
) -> list[str]:
    """One binary mask PNG (0/255) per input image at its native size, named by id; one mask
    volume per input volume or stack, named by case (see :mod:`sparseg.inference.mask_files`)."""
    predictor = Predictor(runs)
    pairs, out_dir = prediction_inputs(input_path, out_dir, Slicing.of(predictor.config.data))
    results = predictor.predict_pairs(pairs)
    return write_predictions(results, out_dir, probabilities, predictor.inference)


def evaluate_runs(
    runs: list[Path],
    data_root: Path,
    split_file: Path | None = None,
    fold: int = 0,
    subset: str = "test",
    out_dir: Path | None = None,
) -> dict[str, Any]:
    """Predict the ``subset`` of the run's split and score it in every convention.

    Writes ``masks/``, ``metrics_per_image.csv`` and ``metrics.json`` into ``out_dir``
    (default ``RUN_DIR/eval_<subset>``).
    """
    check_subset(subset)
    predictor = Predictor(runs)
    slicing = Slicing.of(predictor.config.data)
    pairs = {pair.id: pair for pair in discover_pairs(Path(data_root), slicing=slicing)}
    paths = RunPaths(runs[0])
    if subset == "all":
        ids = sorted(pairs)
    else:
        ids = choose_split(pairs, split_file, fold, paths.split).subset(subset, pairs)
    if not ids:
        raise SparsegError(f"{runs[0]}: the {subset} split is empty; nothing to evaluate")
    out_dir = ensure_output_dir(out_dir or paths.eval_dir(subset), Path(data_root))
    label = predictor.config.data.label
    selected = sorted((pairs[i] for i in ids), key=lambda pair: (pair.group, pair.slice_index or 0))
    preds: dict[str, np.ndarray] = {}
    truths: dict[str, np.ndarray] = {}
    writer = PredictionWriter(out_dir / MASKS_DIR, inference=predictor.inference, keep_volumes=True)
    for pair, probability, mask in predictor.predict_pairs(selected):
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
    summary = {
        **summary,
        "subset": subset,
        "runs": [str(r) for r in runs],
        "data_root": str(Path(data_root).resolve()),
    }
    summary = add_volume_scores(summary, volumes, out_dir)
    write_per_image_csv(out_dir / PER_IMAGE_CSV, rows)
    atomic_write_json(out_dir / METRICS_JSON, json_safe(summary))
    return summary


def save_probabilities(
    run_dir: Path,
    data_root: Path,
    split_file: Path | None = None,
    fold: int = 0,
    subsets: tuple[str, ...] = ("test",),
) -> Path:
    """Write ``RUN/probabilities.npz`` for the ``subsets`` of the run's split, without and with
    TTA (see :mod:`sparseg.inference.saved_probabilities`)."""
    run_dir = Path(run_dir)
    paths = RunPaths(run_dir)
    if not paths.best.is_file():
        raise SparsegError(f"{run_dir}: no {paths.best.name}; probabilities come from a model")
    for subset in subsets:
        check_subset(subset)
    predictor = Predictor([run_dir], inference=InferenceConfig())
    config, member = predictor.config, predictor.members[0]
    pairs = {p.id: p for p in discover_pairs(Path(data_root), slicing=Slicing.of(config.data))}
    split = choose_split(pairs, split_file, fold, paths.split)
    chosen = {s: sorted(pairs) if s == "all" else split.subset(s, pairs) for s in subsets}
    plain = untuned_inference(config.inference)
    views = {False: plain, True: plain.model_copy(update={"tta": True})}
    grids: dict[str, dict[bool, np.ndarray]] = {}
    presences: dict[str, dict[bool, float | None]] = {}
    for item_id in sorted({i for ids in chosen.values() for i in ids}):
        image = predictor.image(pairs[item_id])
        grids[item_id], presences[item_id] = {}, {}
        for tta, cfg in views.items():
            grid, presence = member.grid_prediction(image, item_id, cfg)
            grids[item_id][tta] = quantize(grid.numpy())
            presences[item_id][tta] = presence
    saved = SavedRun(paths.probabilities, config, predictor.in_channels, chosen, grids, presences)
    return write_saved_run(saved)
