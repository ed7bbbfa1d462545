"""The Python API: one name per job, named as the CLI command that calls it
(``sparseg train`` → ``train``); ``import sparseg`` re-exports every name here.

Only the functions that need PyTorch import it, when called: a ``Predictor`` of an
exported ONNX file runs where PyTorch is not installed. Examples: ``docs/getting-started.md``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sparseg.config import Config, InferenceConfig, load_config
from sparseg.data.discovery import list_images
from sparseg.data.io import to_unit_float
from sparseg.data.preprocess import Array
from sparseg.data.resolve import ItemSelection
from sparseg.data.splits import check_subset
from sparseg.data.volumes import Slicing, assemble, volume_info
from sparseg.errors import SparsegError
from sparseg.evaluation.score import score_folder
from sparseg.inference.finish import finish_volume
from sparseg.inference.image_predictor import ImagePredictor
from sparseg.inference.onnx_predict import OnnxPredictor, export_run
from sparseg.inference.predict import predict_folder

PathLike = str | os.PathLike[str]
"""A file or folder: a string or a `pathlib.Path`."""

__all__ = [
    "Config",
    "PathLike",
    "Prediction",
    "Predictor",
    "SparsegError",
    "crossval",
    "evaluate",
    "export",
    "load_config",
    "predict",
    "score",
    "select",
    "train",
    "tune",
]


def train(
    config: Config | PathLike | None,
    data: PathLike,
    out: PathLike,
    *,
    split: PathLike | None = None,
    fold: int | str = 0,
    resume: bool = False,
    quiet: bool = True,
) -> dict[str, dict[str, Any] | None]:
    """Train a model into the run directory ``out`` (``sparseg train``).

    Args:
        config: a `Config` (see `load_config`), a YAML file, or None for the
            defaults.
        data: the data set folder (``images/`` + ``masks/``, or the nnU-Net raw layout).
        out: the run directory; it receives ``config.yaml``, ``split.json``, ``best.ckpt``,
            ``last.ckpt``, ``metrics.csv`` and ``train_summary.json``.
        split: a split file (``sparseg split``); without one a seeded default split is made.
        fold: the fold of a k-fold split file, or ``"all"``: one model per fold into
            ``out/fold_K`` (an ensemble for `Predictor`).
        resume: continue from ``out/last.ckpt``.
        quiet: no progress bar.

    Returns:
        Each trained run directory's summary (best validation Dice, its epoch, steps, why it
        stopped), as written to its ``train_summary.json``.
    """
    from sparseg.training import train_folds

    if not isinstance(config, Config):
        config = load_config(config)
    return train_folds(
        config,
        Path(data),
        Path(out),
        split_file=_optional_path(split),
        fold=str(fold),
        resume=resume,
        quiet=quiet,
    )


def tune(
    run: PathLike, data: PathLike, *, split: PathLike | None = None, fold: int = 0
) -> dict[str, Any]:
    """Decide threshold, TTA, post-processing, CRF and the empty-image gate on the run's
    validation images (``sparseg tune``); each step is kept only if it raises validation Dice.

    Returns:
        The payload written to ``run/inference.json``, with the tuned ``inference`` section,
        every ``decisions`` row, and the validation Dice before and after.
    """
    from sparseg.inference.tune import tune as tune_run

    return tune_run(Path(run), Path(data), split_file=_optional_path(split), fold=fold)


def crossval(folder: PathLike, data: PathLike, *, out: PathLike | None = None) -> dict[str, Any]:
    """The cross-validation estimate of a ``fold="all"`` folder (``sparseg crossval``): every
    training image predicted by the fold that held it out, scored in every Dice convention.

    Args:
        folder: the folder `train` wrote with ``fold="all"``.
        data: the data set folder it was trained on.
        out: where the masks and metrics go (default: ``folder/crossval``).

    Returns:
        The summary written to ``metrics.json``: pooled over the folds, ``per_fold``, and
        ``fold_spread`` (mean, sd, min and max of the per-fold Dice).
    """
    from sparseg.inference.crossval import crossval as score_out_of_fold

    return score_out_of_fold(Path(folder), Path(data), _optional_path(out))


def select(folders: Sequence[PathLike], data: PathLike, out: PathLike) -> dict[str, Any]:
    """Choose between cross-validated configurations and their pairs on out-of-fold Dice
    (``sparseg select``); the choice is written into ``out``, which `predict`, `evaluate`,
    `export` and `Predictor` then take as a run.

    Args:
        folders: ``fold="all"`` folders trained on one split file.
        data: the data set folder they were trained on.
        out: the folder that receives ``selection.json`` and the chosen ensemble's tuned
            ``inference.json``.

    Returns:
        ``selection.json``'s payload (``ranking``, ``reason``, ``members``) and the tuning's
        under ``tuned``.
    """
    from sparseg.inference.selection import select as select_configuration

    return select_configuration([Path(f) for f in folders], Path(data), Path(out))


def evaluate(
    runs: PathLike | Sequence[PathLike],
    data: PathLike,
    *,
    split: PathLike | None = None,
    fold: int = 0,
    subset: str = "test",
    out: PathLike | None = None,
) -> dict[str, Any]:
    """Predict a subset of the run's split and score it in every Dice convention
    (``sparseg evaluate``).

    Args:
        runs: a run directory, a ``fold="all"`` folder or several runs (an ensemble).
        data: the data set folder the run was trained on.
        split: the split file (default: the run's own ``split.json``).
        fold: the fold of a k-fold split file.
        subset: ``test``, ``val``, ``train`` or ``all``.
        out: where ``masks/``, ``metrics_per_image.csv`` and ``metrics.json`` go (default:
            ``RUN/eval_<subset>``).

    Returns:
        The summary written to ``metrics.json``, with every convention's mean, its 95 %
        bootstrap interval in ``ci``, and for volume data a ``volumes`` table.
    """
    from sparseg.inference.evaluate import evaluate_runs

    return evaluate_runs(
        _paths(runs),
        Path(data),
        split_file=_optional_path(split),
        fold=fold,
        subset=subset,
        out_dir=_optional_path(out),
    )


def predict(
    source: PathLike | Sequence[PathLike],
    input: PathLike,
    out: PathLike,
    *,
    probabilities: bool = False,
) -> list[str]:
    """Write one mask per image of ``input`` (a file or a folder) into the folder ``out``
    (``sparseg predict``): a PNG (0/255) at the image's native size, or one volume per input
    volume with the input's affine and header.

    Args:
        source: as for `Predictor`: run directories, a fold folder or an ONNX file.
        input: an image or volume file, a folder of them, or a data set folder.
        out: the output folder (refused inside the input folder).
        probabilities: also write ``out/probabilities/`` (16-bit PNG, float32 volumes).

    Returns:
        The ids (2D images) and cases (volumes) written.
    """
    predictor = _image_predictor(_paths(source))
    return predict_folder(predictor, Path(input), Path(out), probabilities)


def export(run: PathLike, onnx: PathLike, *, tta: bool | None = None) -> float:
    """Export the run's best model to ONNX with its tuned inference steps in the file's
    metadata (``sparseg export``), verified against PyTorch.

    Args:
        run: the run directory.
        onnx: the ``.onnx`` file to write.
        tta: fold 8-fold TTA into the graph; None: as the run was tuned (the opposite is
            refused, since the masks would then differ from the run's).

    Returns:
        The largest absolute difference between the ONNX and the PyTorch probabilities on a
        test input.
    """
    return export_run(Path(run), Path(onnx), tta)


def score(
    pred: PathLike,
    data: PathLike,
    *,
    split: PathLike | None = None,
    subset: str = "test",
    out: PathLike | None = None,
    label: int | None = None,
    present_only: bool = False,
) -> dict[str, Any]:
    """Score the masks of any tool (nnU-Net, your own) against a data set's ground truth, the
    way ``evaluate`` does (``sparseg score``).

    Args:
        pred: a folder of masks ``<id>.<ext>`` (any two values), or ``<case>.nii.gz`` etc. for
            volume data.
        data: the data set folder with the ground truth.
        split: a split file; then only its ``subset`` is scored (default: every image).
        subset: ``test``, ``val``, ``train`` or ``all`` (with ``split``).
        out: a folder for ``metrics.json`` and ``metrics_per_image.csv``.
        label: the label value kept as foreground in label-map ground truth.
        present_only: score exactly the selected images that have a mask in ``pred`` (else
            every selected image needs one).

    Returns:
        The summary, as `evaluate` returns it.
    """
    check_subset(subset)
    ids = None
    if split is not None:
        ids = ItemSelection(Path(data), split_file=Path(split)).subset(subset)
    return score_folder(
        Path(pred), Path(data), ids, _optional_path(out), label=label, present_only=present_only
    )


@dataclass(frozen=True)
class Prediction:
    """A mask and the foreground probabilities it was cut from, of one shape: (H, W) for an
    image, the volume's shape for a volume."""

    mask: np.ndarray
    """Boolean foreground."""
    probabilities: np.ndarray
    """float32 in [0, 1]; 0 on the slices of a volume that were not predicted
    (``data.keep_slices``)."""


class Predictor:
    """Masks and probabilities in memory, with the run's tuned inference steps (TTA, windows,
    threshold, post-processing, CRF, empty gate) as ``sparseg predict`` applies them.

    Made from a run directory, a ``fold="all"`` folder or several runs (an ensemble: the runs'
    probabilities averaged), or an ONNX file from `export` (onnxruntime and numpy only).
    """

    def __init__(self, source: PathLike | Sequence[PathLike]) -> None:
        self._model = _image_predictor(_paths(source))
        self._slicing = Slicing.of(self._model.data)

    @property
    def inference(self) -> InferenceConfig:
        """The inference steps applied: the tuned ones when the run was tuned."""
        return self._model.inference

    @property
    def in_channels(self) -> int:
        """Input channels the model expects."""
        return self._model.in_channels

    def predict(self, image: np.ndarray | PathLike) -> Prediction:
        """Predict one image or volume.

        Args:
            image: pixels as an image file holds them, (H, W) or (H, W, C) of any dtype
                (integers are divided by their dtype's maximum, floats min-max scaled); or an
                image or volume file (NIfTI, multi-frame DICOM, multi-page TIFF), whose slices
                are predicted and put back together as ``sparseg predict`` does.

        Returns:
            The mask and the probabilities, at the image's or volume's own size.
        """
        if isinstance(image, np.ndarray):
            return self._predict_unit(_unit_image(image, self.in_channels), None)
        path = Path(image)
        if path.is_dir():
            raise SparsegError(f"{path}: a folder; predict() takes one file (see sparseg.predict)")
        if not path.is_file():
            raise SparsegError(f"{path}: image or volume file not found")
        items = list_images(path, self._slicing)
        info = volume_info(path)
        if info is None:
            (item,) = items
            return self._predict_unit(self._model.image(item), item.id)
        masks: dict[int, np.ndarray] = {}
        probabilities: dict[int, np.ndarray] = {}
        for item in items:
            prediction = self._predict_unit(self._model.image(item), item.id)
            masks[int(item.slice_index)] = prediction.mask  # type: ignore[arg-type]
            probabilities[int(item.slice_index)] = prediction.probabilities  # type: ignore[arg-type]
        axis = self._slicing.axis_for(info)
        return Prediction(
            finish_volume(assemble(masks, info, axis, bool), self.inference),
            assemble(probabilities, info, axis, np.float32),
        )

    def _predict_unit(self, unit: Array, item_id: str | None) -> Prediction:
        probability, presence = self._model.prediction(unit, item_id=item_id)
        mask = self._model.mask(unit, probability, presence)
        return Prediction(np.asarray(mask, dtype=bool), probability.astype(np.float32))


def _unit_image(pixels: np.ndarray, channels: int) -> np.ndarray:
    """(C, H, W) float32 in [0, 1] from (H, W) or (H, W, C) pixels, as a file's are read."""
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.ndim != 3:
        raise SparsegError(
            f"image array of shape {pixels.shape}: expected (H, W) or (H, W, C); "
            "give a volume as its file"
        )
    if pixels.shape[-1] != channels:
        raise SparsegError(
            f"image array has {pixels.shape[-1]} channel(s) but the model expects {channels}"
        )
    return np.ascontiguousarray(to_unit_float(pixels).transpose(2, 0, 1))


def _paths(source: PathLike | Sequence[PathLike]) -> list[Path]:
    if isinstance(source, str | os.PathLike):
        return [Path(source)]
    paths = [Path(item) for item in source]
    if not paths:
        raise SparsegError("give a run directory, a fold folder or an ONNX file")
    return paths


def _is_onnx(sources: list[Path]) -> bool:
    """An ``.onnx`` file, alone: an ensemble is made of runs."""
    onnx = [path for path in sources if path.suffix == ".onnx"]
    if onnx and len(sources) > 1:
        raise SparsegError(f"{onnx[0]}: an ONNX file predicts alone, not in an ensemble of runs")
    return bool(onnx)


def _image_predictor(sources: list[Path]) -> ImagePredictor:
    """The predictor of an ONNX file, or of runs (an ensemble when several or a fold folder)."""
    if _is_onnx(sources):
        return OnnxPredictor(sources[0])
    # PyTorch for runs only: predicting with an ONNX file works where it is not installed.
    from sparseg.inference.predictor import Predictor as RunsPredictor

    return RunsPredictor(sources)


def _optional_path(path: PathLike | None) -> Path | None:
    return None if path is None else Path(path)
