"""Out-of-fold predictions of a cross-validation: every training image predicted once, by the
fold that did not see it, as nnU-Net's ``accumulate_cv_results`` gathers its folds' validation
predictions.

Each ``fold_K`` run of a ``--fold all`` folder held out the validation images of its own
``split.json``; their union is the cross-validated set. With several folders (the
configurations a ``sparseg select`` compares, or its chosen pair), an image's out-of-fold
probability is the mean over the folders of the fold of each that held it out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sparseg.config import InferenceConfig
from sparseg.errors import SparsegError
from sparseg.inference.predictor import Member, Predictor, load_inference_config
from sparseg.io_utils import read_json
from sparseg.run_layout import RunPaths, selected_folders


@dataclass(frozen=True)
class HeldOut:
    """One fold run and the validation ids it held out."""

    run: Path
    ids: tuple[str, ...]


def cross_validated_folders(folder: Path) -> list[Path]:
    """The ``--fold all`` folders behind ``folder``: itself, or what a selection folder chose."""
    paths = RunPaths(folder)
    if paths.selection.is_file():
        return selected_folders(paths.root)
    if not paths.is_fold_folder:
        raise SparsegError(
            f"{folder}: not a cross-validation (no fold_K runs; train with --fold all)"
        )
    return [paths.root]


def held_out(folder: Path) -> list[HeldOut]:
    """The fold runs of a ``--fold all`` folder and the ids each held out, refused where two
    folds held out the same image (not the folds of one k-fold split)."""
    folds, owner = [], {}
    for run in RunPaths(folder).fold_runs():
        path = RunPaths(run).split
        content = read_json(path)
        ids = content.get("val") if isinstance(content, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise SparsegError(f"{path}: no list of validation ids ('val') in this fold's split")
        for item_id in ids:
            if item_id in owner:
                raise SparsegError(
                    f"{folder}: {owner[item_id].name} and {run.name} both held out {item_id} "
                    "(not the folds of one k-fold split)"
                )
            owner[item_id] = run
        folds.append(HeldOut(run, tuple(ids)))
    if not owner:
        raise SparsegError(f"{folder}: its folds held out no validation images")
    return folds


class OutOfFoldPredictor(Predictor):
    """A :class:`Predictor` over the folds of one or more cross-validated folders that answers
    for each training image with the fold (of each folder) that held it out.

    The inference steps are ``inference``, else the ``inference.json`` of the first folder given
    (a selection folder's own), else the trained config's (untuned).
    """

    def __init__(self, folders: list[Path], inference: InferenceConfig | None = None) -> None:
        given = Path(folders[0])
        folders = [f for folder in folders for f in cross_validated_folders(Path(folder))]
        self.folds = {folder: held_out(folder) for folder in folders}
        super().__init__(list(folders), inference)
        if inference is None:
            self.inference = load_inference_config(given, self.config.inference)
        index = {run: k for k, run in enumerate(self.runs)}
        self._holders: dict[str, list[int]] = {}
        for folds in self.folds.values():
            for fold in folds:
                for item_id in fold.ids:
                    self._holders.setdefault(item_id, []).append(index[fold.run])
        incomplete = sorted(i for i, k in self._holders.items() if len(k) != len(folders))
        if incomplete:
            raise SparsegError(
                f"{folders[-1]}: the folders cross-validated different images ({incomplete[0]} "
                f"is held out in some only); compare configurations trained on one split"
            )

    @property
    def ids(self) -> list[str]:
        """Every cross-validated image id."""
        return sorted(self._holders)

    def check_known(self, known_ids: Iterable[str]) -> None:
        """Refuse held-out ids that are not in the data set (another data set's folds)."""
        missing = sorted(set(self._holders) - set(known_ids))
        if missing:
            folder = next(iter(self.folds))
            raise SparsegError(
                f"{folder}: {len(missing)} held-out id(s) not in the data set, e.g. "
                f"{missing[0]!r} (cross-validated on other data?)"
            )

    def members_for(self, item_id: str | None) -> list[tuple[Member, float]]:
        if item_id is None or item_id not in self._holders:
            raise SparsegError(
                f"{item_id or 'an image without id'}: not held out by any fold of "
                f"{', '.join(str(f) for f in self.folds)} (only training images have "
                "out-of-fold predictions)"
            )
        holders = self._holders[item_id]
        return [(self.members[k], 1 / len(holders)) for k in holders]
