"""``--fold all``: one model per fold of a k-fold split file, each saving its probabilities on
the validation images it held out (out-of-fold, for ``sparseg crossval`` and for tuning the fold
ensemble with ``sparseg tune`` on the folder)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning_fabric.utilities.rank_zero import rank_zero_only

from sparseg.config import Config
from sparseg.errors import SparsegError
from sparseg.inference.save_probabilities import save_probabilities
from sparseg.io_utils import read_json
from sparseg.run_layout import RunPaths
from sparseg.training.loop import train


def fold_count(split_file: Path) -> int:
    folds = read_json(split_file).get("folds") if split_file else None
    if not isinstance(folds, list) or not folds:
        raise SparsegError(f"{split_file}: --fold all needs a split file with a 'folds' list")
    return len(folds)


def train_folds(
    config: Config,
    data_root: Path,
    out_dir: Path,
    *,
    split_file: Path | None = None,
    fold: str = "0",
    resume: bool = False,
    quiet: bool = False,
) -> dict[str, dict[str, Any] | None]:
    """Train fold ``fold`` into ``out_dir``, or every fold into ``out_dir/fold_K`` for 'all'."""
    if fold != "all":
        if not fold.isdigit():
            raise SparsegError(f"--fold {fold!r}: expected a fold number or 'all'")
        summary = train(
            config,
            data_root,
            out_dir,
            split_file=split_file,
            fold=int(fold),
            resume=resume,
            quiet=quiet,
        )
        return {str(out_dir): summary}
    if split_file is None:
        raise SparsegError("--fold all needs --split FILE with k folds (see `sparseg split`)")
    summaries: dict[str, dict[str, Any] | None] = {}
    for index in range(fold_count(split_file)):
        paths = RunPaths(out_dir).fold(index)
        if paths.train_summary.is_file():
            summaries[str(paths.root)] = read_json(paths.train_summary)
        else:
            fold_resume = resume and paths.last.is_file()
            summaries[str(paths.root)] = train(
                config,
                data_root,
                paths.root,
                split_file=split_file,
                fold=index,
                resume=fold_resume,
                quiet=quiet,
            )
        if paths.best.is_file():  # a fold carried without its checkpoint keeps its file
            # Every DDP process runs this loop; one of them writes the file (or finds it made).
            rank_zero_only(save_probabilities)(
                paths.root, data_root, split_file=split_file, fold=index, subsets=("val",)
            )
    return summaries
