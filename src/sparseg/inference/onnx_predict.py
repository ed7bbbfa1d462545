"""ONNX: export a run (or a fold ensemble, as one graph) with its preprocessing and tuned
inference steps stored in the file's metadata, and predict with onnxruntime + numpy only (no
PyTorch at prediction time).

The ONNX path runs the same steps as :class:`sparseg.inference.predictor.Predictor`, with the
same functions on numpy arrays: resize and normalise (:mod:`sparseg.data.preprocess`, or
Gaussian sliding windows of :mod:`sparseg.inference.windows` in patch mode or with
``inference.sliding_window``), the network (with TTA folded into the graph when tuned), resize
back, then :func:`sparseg.inference.finish.finish_mask`. Only :func:`export_run` imports torch,
and only when called.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from sparseg.config import DataConfig, InferenceConfig
from sparseg.data.discovery import Item
from sparseg.data.io import to_unit_float
from sparseg.data.items import read_item_image
from sparseg.data.preprocess import Array, normalize_image, resize_image
from sparseg.errors import SparsegError
from sparseg.inference.image_predictor import ImagePredictor
from sparseg.inference.onnx_runtime import OnnxModel
from sparseg.inference.windows import sliding_window, uses_windows
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


class OnnxPredictor(ImagePredictor):
    """An exported ONNX file (a run, or a fold ensemble as one graph) as a predictor, with the
    data settings and inference steps recorded in its metadata: what
    :class:`~sparseg.inference.predictor.Predictor` does with PyTorch, under the same names."""

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
        self.in_channels = int(self.meta["in_channels"])
        if self.inference.tta != self.meta["tta_in_graph"]:
            raise SparsegError(
                f"{path}: tuned with inference.tta={str(self.inference.tta).lower()} but the "
                "graph was exported otherwise; export it again"
            )

    def image(self, item: Item | Path) -> np.ndarray:
        """(C, H, W) unit-float array, refused when its channels don't fit the model."""
        return to_unit_float(read_item_image(self._checked_item(item))).transpose(2, 0, 1)

    def prediction(
        self,
        image: Array,
        inference: InferenceConfig | None = None,
        item_id: str | None = None,
    ) -> tuple[np.ndarray, float | None]:
        """Foreground probability (H, W) at the image's native size and the presence head's
        probability (None without one; with windows, the largest window's, as
        :func:`sparseg.inference.model_probability.grid_prediction` does; an ensemble's: the
        mean of each member's largest, as the PyTorch ensemble), with ``inference``'s
        windows (default: the tuned ones). Its TTA is the graph's: asking for the other is
        refused. ``item_id`` is not needed: the graph answers for every image."""
        image = np.asarray(image, dtype=np.float32)
        cfg = inference or self.inference
        if cfg.tta != self.meta["tta_in_graph"]:
            raise SparsegError(
                f"{self.model.path}: the graph was exported with tta="
                f"{str(self.meta['tta_in_graph']).lower()}; export it again to predict with "
                f"tta={str(cfg.tta).lower()}"
            )
        size = tuple(self.data.input_size)
        if uses_windows(self.data, cfg):
            normalised = normalize_image(image, self.data.normalize)[None]
            presences: list[np.ndarray] = []

            def predict(tiles: np.ndarray) -> np.ndarray:
                outputs = self.model.outputs(tiles)
                presence = outputs.get("member_presence", outputs.get("presence"))
                if presence is not None:
                    presences.append(presence.max(axis=0))
                return outputs["probabilities"]

            stitched = sliding_window(predict, normalised, size, cfg.window_overlap)
            largest = float(np.max(presences, axis=0).sum()) if presences else None
            return stitched[0, 0], largest
        normalised = normalize_image(resize_image(image, size), self.data.normalize)
        probability, presence = self.model.predict(normalised[None])
        head = None if presence is None else float(presence[0, 0])
        return resize_image(probability[0, 0], image.shape[-2:]), head
