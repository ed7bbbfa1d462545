"""The run directory's file names, and the runs a ``--fold all`` folder holds, in one torch-free
place.

Training, tuning, evaluation, ablation, reporting and the CLI all find a run's files through
:class:`RunPaths`; nothing else spells a file name of a run. ``HEADLINE_METRIC`` is the one
figure that tune maximises, ablation compares and reports lead with.

Example::

    paths = RunPaths(Path("runs/quick"))
    summary = read_json(paths.train_summary)
    metrics = paths.eval_dir("test") / METRICS_JSON
"""

from __future__ import annotations

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

    def fold(self, index: int) -> RunPaths:
        """The run of fold ``index`` inside a ``--fold all`` folder."""
        return RunPaths(self.root / f"{FOLD_PREFIX}{index}")

    def fold_runs(self) -> list[Path]:
        """The ``fold_K`` runs inside this folder that predict (:attr:`predicts`)."""
        folds = self.root.glob(f"{FOLD_PREFIX}*")
        return sorted(path for path in folds if path.is_dir() and RunPaths(path).predicts)


def run_dirs(runs: list[Path]) -> list[Path]:
    """Expand a ``--fold all`` parent folder into its ``fold_K`` runs."""
    expanded: list[Path] = []
    for run in runs:
        paths = RunPaths(run)
        if not paths.root.is_dir():
            raise SparsegError(f"{run}: run directory not found")
        folds = paths.fold_runs()
        expanded.extend(folds if folds and not paths.predicts else [paths.root])
    return expanded
