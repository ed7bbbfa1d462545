"""``--fold all``: one model per fold of a k-fold split file, for ensembling later."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sparseg.config import Config
from sparseg.errors import SparsegError
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
    split_file: Path | None,
    fold: str,
    resume: bool,
    quiet: bool,
) -> dict[str, dict[str, Any] | None]:
    """Train fold ``fold`` into ``out_dir``, or every fold into ``out_dir/fold_K`` for 'all'."""
    if fold != "all":
        if not fold.isdigit():
            raise SparsegError(f"--fold {fold!r}: expected a fold number or 'all'")
        return {
            str(out_dir): train(config, data_root, out_dir, split_file, int(fold), resume, quiet)
        }
    if split_file is None:
        raise SparsegError("--fold all needs --split FILE with k folds (see `sparseg split`)")
    summaries: dict[str, dict[str, Any] | None] = {}
    for index in range(fold_count(split_file)):
        paths = RunPaths(out_dir).fold(index)
        if paths.train_summary.is_file():
            summaries[str(paths.root)] = read_json(paths.train_summary)
            continue
        fold_resume = resume and paths.last.is_file()
        summaries[str(paths.root)] = train(
            config, data_root, paths.root, split_file, index, fold_resume, quiet
        )
    return summaries
