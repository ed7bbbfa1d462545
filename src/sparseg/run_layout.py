"""The run directory's file names, and the runs a ``--fold all`` folder or a ``sparseg select``
folder holds, in one torch-free place.

Training, tuning, evaluation, ablation, reporting and the CLI all find a run's files through
:class:`RunPaths`; nothing else spells a file name of a run. ``HEADLINE_METRIC`` is the one
figure that tune maximises, ablation compares and reports lead with.

Example::

    paths = RunPaths(Path("runs/quick"))
    summary = read_json(paths.train_summary)
    metrics = paths.eval_dir("test") / METRICS_JSON
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from sparseg.errors import SparsegError

CONFIG_FILE = "config.yaml"
SPLIT_FILE = "split.json"
BEST_CHECKPOINT = "best.ckpt"
LAST_CHECKPOINT = "last.ckpt"
METRICS_CSV = "metrics.csv"
TRAIN_SUMMARY = "train_summary.json"
INFERENCE_FILE = "inference.json"
PROBABILITIES_FILE = "probabilities.npz"
TENSORBOARD_DIR = "tb"
EVAL_PREFIX = "eval_"
METRICS_JSON = "metrics.json"
PER_IMAGE_CSV = "metrics_per_image.csv"
PER_VOLUME_CSV = "metrics_per_volume.csv"
MASKS_DIR = "masks"
FOLD_PREFIX = "fold_"
CROSSVAL_DIR = "crossval"
SELECTION_FILE = "selection.json"
# A hidden temporary file a killed checkpoint write can leave (see io_utils.atomic_write).
STALE_CHECKPOINT_GLOB = ".*.ckpt.*.tmp"

HEADLINE_METRIC = "dice_per_image_empty_is_one"
"""Mean per-image Dice, an empty prediction of an empty mask counted as 1."""

# What a finished training leaves, train_summary.json last: its presence marks the end.
TRAINED_FILES = (
    CONFIG_FILE,
    SPLIT_FILE,
    METRICS_CSV,
    BEST_CHECKPOINT,
    PROBABILITIES_FILE,
    TRAIN_SUMMARY,
)


@dataclass(frozen=True)
class RunPaths:
    """The files of the run directory ``root``."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def split(self) -> Path:
        return self.root / SPLIT_FILE

    @property
    def best(self) -> Path:
        return self.root / BEST_CHECKPOINT

    @property
    def last(self) -> Path:
        return self.root / LAST_CHECKPOINT

    @property
    def metrics_csv(self) -> Path:
        return self.root / METRICS_CSV

    @property
    def train_summary(self) -> Path:
        return self.root / TRAIN_SUMMARY

    @property
    def inference(self) -> Path:
        return self.root / INFERENCE_FILE

    @property
    def probabilities(self) -> Path:
        """Probabilities saved by ``sparseg save-probabilities``: the run's stand-in for a
        checkpoint that is not on this machine."""
        return self.root / PROBABILITIES_FILE

    @property
    def predicts(self) -> bool:
        """A model here (best checkpoint) or its saved probabilities."""
        return self.best.is_file() or self.probabilities.is_file()

    def eval_dir(self, subset: str) -> Path:
        """Where ``sparseg evaluate --subset SUBSET`` writes masks and metrics."""
        return self.root / f"{EVAL_PREFIX}{subset}"

    def eval_dirs(self) -> list[Path]:
        """Every ``eval_<subset>`` folder holding a ``metrics.json``."""
        return [path.parent for path in self.root.glob(f"{EVAL_PREFIX}*/{METRICS_JSON}")]

    @property
    def crossval_dir(self) -> Path:
        """Where ``sparseg crossval`` writes the out-of-fold masks and metrics."""
        return self.root / CROSSVAL_DIR

    @property
    def selection(self) -> Path:
        """``sparseg select``'s choice: the cross-validated folders whose folds predict."""
        return self.root / SELECTION_FILE

    @property
    def is_fold_folder(self) -> bool:
        """A ``--fold all`` folder: ``fold_K`` runs inside, no model of its own."""
        return not self.predicts and bool(self.fold_runs())

    def fold(self, index: int) -> RunPaths:
        """The run of fold ``index`` inside a ``--fold all`` folder."""
        return RunPaths(self.root / f"{FOLD_PREFIX}{index}")

    def fold_runs(self) -> list[Path]:
        """The ``fold_K`` runs inside this folder that predict (:attr:`predicts`), by K."""
        folds = [path for path in self.root.glob(f"{FOLD_PREFIX}*") if fold_index(path) is not None]
        return sorted(
            (path for path in folds if path.is_dir() and RunPaths(path).predicts), key=fold_index
        )


def fold_index(run: Path) -> int | None:
    """K of a ``fold_K`` run folder; None for any other name."""
    number = Path(run).name.removeprefix(FOLD_PREFIX)
    return int(number) if Path(run).name.startswith(FOLD_PREFIX) and number.isdigit() else None


def selected_folders(folder: Path) -> list[Path]:
    """The cross-validated folders a ``sparseg select`` folder chose (their paths in
    ``selection.json`` are relative to it)."""
    path = RunPaths(folder).selection
    try:
        members = json.loads(path.read_text(encoding="utf-8"))["members"]
    except (OSError, ValueError, KeyError, TypeError):
        raise SparsegError(
            f"{path}: not a readable selection (run `sparseg select` again)"
        ) from None
    if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
        raise SparsegError(f"{path}: 'members' must be a non-empty list of folders")
    return [Path(os.path.normpath(Path(folder) / member)) for member in members]


def run_groups(runs: list[Path]) -> list[list[Path]]:
    """The runs that predict, grouped by what was given: a run alone; a ``--fold all`` folder's
    ``fold_K`` runs together; a ``sparseg select`` folder's chosen folders, one group each.
    An ensemble weighs each group equally (see :func:`run_dirs`)."""
    groups: list[list[Path]] = []
    for run in runs:
        paths = RunPaths(run)
        if not paths.root.is_dir():
            raise SparsegError(f"{run}: run directory not found")
        if paths.selection.is_file():
            groups.extend(run_groups(selected_folders(paths.root)))
        elif paths.is_fold_folder:
            groups.append(paths.fold_runs())
        else:
            groups.append([paths.root])
    return groups


def run_dirs(runs: list[Path]) -> list[Path]:
    """Expand ``--fold all`` folders into their ``fold_K`` runs and ``sparseg select`` folders
    into the runs of the folders they chose."""
    return [run for group in run_groups(runs) for run in group]


def split_source(run: Path) -> Path:
    """The ``split.json`` that says a run's test images: its own, else (a fold or selection
    folder) that of its first fold, which every fold of a k-fold split shares."""
    own = RunPaths(run).split
    if own.is_file() or not RunPaths(run).root.is_dir():
        return own
    first = run_dirs([run])[0]
    return RunPaths(first).split if first != Path(run) else own
