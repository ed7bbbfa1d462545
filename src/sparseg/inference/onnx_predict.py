"""ONNX: export a run (or a fold ensemble, as one graph) with its preprocessing and tuned
inference steps stored in the file's metadata, and predict with onnxruntime + numpy only (no
PyTorch at prediction time).

The ONNX path runs the same steps as :class:`sparseg.inference.predictor.Predictor`: resize (or
Gaussian sliding windows in patch mode or with ``inference.sliding_window``), the network (with
TTA folded into the graph when tuned), resize back, then
:func:`sparseg.inference.finish.finish_mask`. Only :func:`export_run` imports torch, and only
when called.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sparseg.config import DataConfig, InferenceConfig
from sparseg.data.io import to_unit_float
from sparseg.data.items import as_item, read_item_image
from sparseg.data.pairs import Pair
from sparseg.data.volumes import Slicing
from sparseg.errors import SparsegError
from sparseg.inference.finish import finish_mask
from sparseg.inference.mask_files import prediction_inputs, write_predictions
from sparseg.inference.onnx_runtime import OnnxModel, pad_edges
from sparseg.inference.windows import gaussian_weights, stitch_windows, uses_windows
from sparseg.io_utils import atomic_write, ensure_output_file
from sparseg.run_layout import RunPaths

METADATA_KEY = "sparseg"


def export_run(run_dir: Path, onnx_path: Path, tta: bool | None = None) -> float:
    """Export ``run_dir``'s best checkpoint, or a fold or selection folder's ensemble as one
    graph that averages its runs as :class:`~sparseg.inference.predictor.Predictor` does;
    returns the verified max abs difference to PyTorch.

    ``tta=None`` folds TTA into the graph exactly when the tuned inference uses it; asking for
    the opposite is refused, since the ONNX masks would then differ from ``sparseg predict``'s.
    """
    import onnx

    from sparseg.inference.onnx_export import export_onnx
    from sparseg.inference.predictor import Predictor, RunModel
    from sparseg.models import plain_model

    paths = RunPaths(run_dir)
    predictor = Predictor([paths.root])
    models = []
    for run, member in zip(predictor.runs, predictor.members, strict=True):
        if not isinstance(member, RunModel):
            raise SparsegError(
                f"{run}: no {RunPaths(run).best.name} here (saved probabilities cannot be "
                "exported); export where the checkpoints are"
            )
        if member.config.data != predictor.config.data:
            raise SparsegError(
                f"{run}: its data settings (input size, normalisation, ...) differ from "
                f"{predictor.runs[0]}'s; one ONNX graph needs them equal"
            )
        models.append(plain_model(member.model))
    onnx_path = ensure_output_file(
        onnx_path, (".onnx",), *(RunPaths(run).best for run in predictor.runs)
    )
    inference = predictor.inference
    if tta is None:
        tta = inference.tta
    elif tta != inference.tta:
        flag = "--tta" if tta else "--no-tta"
        source = (
            paths.inference if paths.inference.is_file() else RunPaths(predictor.runs[0]).config
        )
        raise SparsegError(
            f"{source}: the run predicts with inference.tta={str(inference.tta).lower()}, so "
            f"{flag} would export a model whose masks differ from `sparseg predict --run`; "
            "leave the flag out"
        )
    difference = export_onnx(
        models,
        Path(onnx_path),
        predictor.in_channels,
        tta,
        threshold=inference.threshold,
        weights=predictor.weights,
    )
    model = onnx.load(str(onnx_path))
    metadata = {
        "in_channels": predictor.in_channels,
        "data": predictor.config.data.model_dump(mode="json"),
        "tta_in_graph": tta,
        "inference": inference.model_dump(mode="json"),
        "runs": len(models),
    }
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(metadata)
    atomic_write(Path(onnx_path), lambda tmp: onnx.save(model, str(tmp)))
    return difference


def normalize(image: np.ndarray, mode: str) -> np.ndarray:
    """The numpy twin of :func:`sparseg.data.dataset.normalize_image` (C, H, W)."""
    if mode == "zscore":
        mean = image.mean(axis=(-2, -1), keepdims=True)
        return (image - mean) / np.maximum(image.std(axis=(-2, -1), keepdims=True), 1e-8)
    if mode == "minmax":
        low = image.min(axis=(-2, -1), keepdims=True)
        return (image - low) / np.maximum(image.max(axis=(-2, -1), keepdims=True) - low, 1e-8)
    return image


def resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a (C, H, W) float array to ``size`` (height, width)."""
    if tuple(array.shape[-2:]) == tuple(size):
        return array
    return np.stack(
        [
            np.asarray(Image.fromarray(channel).resize(size[::-1], Image.Resampling.BILINEAR))
            for channel in array.astype(np.float32)
        ]
    )


class OnnxPredictor:
    """The ONNX twin of :class:`~sparseg.inference.predictor.Predictor`: image file →
    probability and mask, with the steps recorded in the ONNX metadata."""

    def __init__(self, path: Path) -> None:
        self.model = OnnxModel(Path(path))
        meta = self.model.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if meta is None:
            raise SparsegError(f"{path}: ONNX model was not exported by `sparseg export`")
        self.meta: dict[str, Any] = json.loads(meta)
        if "data" not in self.meta:
            raise SparsegError(f"{path}: exported by an older sparseg; export it again")
        self.data = DataConfig.model_validate(self.meta["data"])
        self.inference = InferenceConfig.model_validate(self.meta["inference"])
        if self.inference.tta != self.meta["tta_in_graph"]:
            raise SparsegError(
                f"{path}: tuned with inference.tta={str(self.inference.tta).lower()} but the "
                "graph was exported otherwise; export it again"
            )

    def prediction(self, unit: np.ndarray) -> tuple[np.ndarray, float | None]:
        """Foreground probability (H, W) of a unit-float (C, H, W) image at its native size, and
        the presence head's probability (None without one; with windows, the largest window's,
        as :func:`sparseg.inference.probability.predict_image` does)."""
        size = tuple(self.data.input_size)
        if uses_windows(self.data, self.inference):
            normalised = normalize(unit, self.data.normalize)[None].astype(np.float32)
            padded, (rows, cols) = pad_edges(normalised, size)
            presences: list[float] = []

            def predict(tiles: list[np.ndarray]) -> np.ndarray:
                probabilities, presence = self.model.predict(np.concatenate(tiles))
                if presence is not None:
                    presences.append(float(presence.max()))
                return probabilities

            stitched = stitch_windows(
                predict,
                padded,
                size,
                self.inference.window_overlap,
                weights=gaussian_weights(size),
                zeros_like=np.zeros_like,
            )
            return stitched[0, 0, rows, cols], max(presences) if presences else None
        normalised = normalize(resize(unit, size), self.data.normalize)
        probability, presence = self.model.predict(normalised[None].astype(np.float32))
        head = None if presence is None else float(presence[0, 0])
        return resize(probability[0], unit.shape[-2:])[0], head

    def probability(self, unit: np.ndarray) -> np.ndarray:
        """The probability map of :meth:`prediction` alone."""
        return self.prediction(unit)[0]

    def mask(
        self, unit: np.ndarray, probability: np.ndarray, presence: float | None = None
    ) -> np.ndarray:
        return finish_mask(probability, unit.mean(0), self.inference, presence)

    def load(self, item: Pair | Path) -> np.ndarray:
        pair = as_item(item)
        unit = to_unit_float(read_item_image(pair)).transpose(2, 0, 1)
        expected = self.meta["in_channels"]
        if unit.shape[0] != expected:
            raise SparsegError(
                f"{pair.image}: image has {unit.shape[0]} channel(s) but the model expects "
                f"{expected}"
            )
        return unit


def predict_folder_onnx(
    onnx_path: Path, input_path: Path, out_dir: Path, probabilities: bool = False
) -> list[str]:
    predictor = OnnxPredictor(onnx_path)
    pairs, out_dir = prediction_inputs(input_path, out_dir, Slicing.of(predictor.data))

    def results() -> Iterator[tuple[Pair, np.ndarray, np.ndarray]]:
        for pair in pairs:
            unit = predictor.load(pair)
            probability, presence = predictor.prediction(unit)
            yield pair, probability, predictor.mask(unit, probability, presence)

    return write_predictions(results(), out_dir, probabilities, predictor.inference)
