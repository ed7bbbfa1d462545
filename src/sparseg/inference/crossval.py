"""``sparseg crossval``: the cross-validation estimate of a ``--fold all`` folder, before any
test image is looked at.

Every training image is predicted once, by the fold that held it out (its saved out-of-fold
probabilities, or its model), finished with the folder's inference steps (untuned until
``sparseg tune`` runs on the folder: then the figures are tuned and scored on the same images,
an optimistic estimate, and ``metrics.json`` says so) and scored in every convention with
bootstrap intervals: pooled over all folds, per fold, and the spread of the per-fold figures.
Volume data are scored per volume in 3D as well.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from sparseg.data.resolve import ItemSelection
from sparseg.data.volumes import Slicing
from sparseg.evaluation.aggregate import aggregate
from sparseg.inference.evaluate import score_predictions
from sparseg.inference.out_of_fold import OutOfFoldPredictor
from sparseg.io_utils import ensure_output_dir
from sparseg.run_layout import HEADLINE_METRIC, RunPaths


def crossval(folder: Path, data_root: Path, out_dir: Path | None = None) -> dict[str, Any]:
    """Score ``folder``'s out-of-fold predictions; writes ``masks/``, the per-image (and
    per-volume) CSV and ``metrics.json`` into ``out_dir`` (default ``FOLDER/crossval``) and
    returns the summary: the pooled figures, ``per_fold`` and ``fold_spread``."""
    folder, data_root = Path(folder), Path(data_root)
    predictor = OutOfFoldPredictor([folder])
    items = ItemSelection(data_root, slicing=Slicing.of(predictor.config.data)).items
    predictor.check_known(items)
    out_dir = ensure_output_dir(out_dir or RunPaths(folder).crossval_dir, data_root)
    scored = score_predictions(predictor, [items[i] for i in predictor.ids], out_dir)
    evaluation, seed = predictor.config.evaluation, predictor.config.seed
    rows = {row["id"]: row for row in scored.rows}
    first_folder = next(iter(predictor.folds.values()))
    per_fold = {
        fold.run.name: aggregate(
            [rows[i] for i in fold.ids], bootstrap=evaluation.bootstrap, seed=seed
        )
        for fold in first_folder
    }
    headline = [scores.figure(HEADLINE_METRIC) for scores in per_fold.values()]
    tuned = RunPaths(folder).inference.is_file()
    context = {
        "subset": "out-of-fold",
        "runs": [str(run) for run in predictor.runs],
        "data_root": str(data_root.resolve()),
        "inference": (
            "tuned on these out-of-fold predictions (optimistic)"
            if tuned
            else "untuned (the trained config's threshold and steps)"
        ),
        "per_fold": [{"fold": name, **scores.to_json()} for name, scores in per_fold.items()],
        "fold_spread": {
            "metric": HEADLINE_METRIC,
            "mean": statistics.fmean(headline),
            "sd": statistics.stdev(headline) if len(headline) > 1 else 0.0,
            "min": min(headline),
            "max": max(headline),
        },
    }
    return scored.write(context)
