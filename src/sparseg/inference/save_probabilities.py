"""``sparseg save-probabilities``: write a run's probabilities on its split's subsets into the
format of :mod:`sparseg.inference.saved_run`, so the run tunes, evaluates and joins an ensemble
where its checkpoint is not."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sparseg.config import Config, InferenceConfig
from sparseg.data.resolve import ItemSelection
from sparseg.data.splits import check_subset
from sparseg.errors import SparsegError
from sparseg.inference.predictor import Predictor, untuned_inference
from sparseg.inference.saved_run import (
    SavedRun,
    load_saved_run,
    quantize,
    write_saved_run,
)
from sparseg.run_layout import (
    RunPaths,
    fold_index,
)


def save_probabilities(
    run_dir: Path,
    data_root: Path,
    *,
    split_file: Path | None = None,
    fold: int = 0,
    subsets: tuple[str, ...] = ("test",),
) -> list[Path]:
    """Write ``RUN/probabilities.npz`` for the ``subsets`` of the run's split, without and with
    TTA (see :mod:`sparseg.inference.saved_run`); for a fold folder, that of every
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
    """:func:`save_probabilities` for one run with a model. Images saved before from this same
    model are kept as they are; when nothing is missing the file is left untouched."""
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
    items = selection.items
    chosen = {subset: selection.subset(subset) for subset in subsets}
    kept = _saved_before(paths, config)
    grids: dict[str, dict[bool, np.ndarray]] = {}
    presences: dict[str, dict[bool, float | None]] = {}
    if kept is not None:
        chosen = {**{s: ids for s, ids in kept.subsets.items() if s not in chosen}, **chosen}
        if chosen == kept.subsets:
            return paths.probabilities  # every image asked for is saved from this model
        grids, presences = dict(kept.grids), dict(kept.presences)
    plain = untuned_inference(config.inference)
    views = {False: plain, True: plain.model_copy(update={"tta": True})}
    for item_id in sorted({i for ids in chosen.values() for i in ids} - set(grids)):
        image = predictor.image(items[item_id])
        grids[item_id], presences[item_id] = {}, {}
        for tta, cfg in views.items():
            grid, presence = member.grid_prediction(image, item_id, cfg)
            grids[item_id][tta] = quantize(grid.numpy())
            presences[item_id][tta] = presence
    needed = {i for ids in chosen.values() for i in ids}
    grids = {i: grids[i] for i in sorted(needed)}
    presences = {i: presences[i] for i in sorted(needed)}
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
