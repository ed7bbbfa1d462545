"""ONNX: export a run with its preprocessing and tuned inference steps stored in the file's
metadata, and predict with onnxruntime + numpy only (no PyTorch at prediction time).

Only :func:`export_run` imports torch, and only when called.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sparseg.config import InferenceConfig
from sparseg.data.io import read_image, to_unit_float
from sparseg.data.pairs import Pair
from sparseg.errors import SparsegError
from sparseg.inference.crf import crf_refine
from sparseg.inference.gate import apply_empty_gate
from sparseg.inference.mask_files import prediction_inputs, write_predictions
from sparseg.inference.onnx_runtime import OnnxPredictor
from sparseg.inference.postprocess import postprocess
from sparseg.io_utils import atomic_write, ensure_output_file

METADATA_KEY = "sparseg"


def export_run(run_dir: Path, onnx_path: Path, tta: bool = False) -> float:
    """Export ``run_dir/best.ckpt``; returns the verified max abs difference to PyTorch."""
    import onnx

    from sparseg.inference.onnx_export import export_onnx
    from sparseg.inference.predictor import load_inference_config, load_run_model
    from sparseg.models import plain_model

    onnx_path = ensure_output_file(onnx_path, (".onnx",), Path(run_dir) / "best.ckpt")
    member = load_run_model(Path(run_dir))
    inference = load_inference_config(Path(run_dir), member.config.inference)
    difference = export_onnx(plain_model(member.model), Path(onnx_path), member.in_channels, tta)
    model = onnx.load(str(onnx_path))
    metadata = {
        "in_channels": member.in_channels,
        "input_size": list(member.config.data.input_size),
        "normalize": member.config.data.normalize,
        "mode": member.config.data.mode,
        "tta_in_graph": tta,
        "inference": inference.model_dump(mode="json"),
    }
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(metadata)
    atomic_write(Path(onnx_path), lambda tmp: onnx.save(model, str(tmp)))
    return difference


def normalize(image: np.ndarray, mode: str) -> np.ndarray:
    """The numpy twin of :func:`sparseg.data.dataset.normalize_image` (C, H, W)."""
    if mode == "zscore":
        return (image - image.mean()) / max(float(image.std()), 1e-8)
    if mode == "minmax":
        return (image - image.min()) / max(float(image.max() - image.min()), 1e-8)
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


class OnnxSegmenter:
    """Image file → probability and mask, with the steps recorded in the ONNX metadata."""

    def __init__(self, path: Path) -> None:
        self.runtime = OnnxPredictor(Path(path))
        meta = self.runtime.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if meta is None:
            raise SparsegError(f"{path}: ONNX model was not exported by `sparseg export`")
        self.meta: dict[str, Any] = json.loads(meta)
        self.inference = InferenceConfig.model_validate(self.meta["inference"])

    def probability(self, unit: np.ndarray) -> np.ndarray:
        if self.meta["mode"] == "patch":  # fully convolutional: the whole native image at once
            normalised = normalize(unit, self.meta["normalize"])
            return self.runtime(normalised[None].astype(np.float32))[0, 0]
        resized = resize(unit, tuple(self.meta["input_size"]))
        normalised = normalize(resized, self.meta["normalize"])
        probability = self.runtime(normalised[None].astype(np.float32))[0]
        return resize(probability, unit.shape[-2:])[0]

    def mask(self, unit: np.ndarray, probability: np.ndarray) -> np.ndarray:
        cfg = self.inference
        if cfg.crf.enabled:
            mask = crf_refine(unit.mean(0), probability, cfg.crf)
        else:
            mask = probability > cfg.threshold
        return apply_empty_gate(postprocess(mask, cfg.postprocess), probability, cfg.empty_gate)

    def load(self, path: Path) -> np.ndarray:
        unit = to_unit_float(read_image(path)).transpose(2, 0, 1)
        expected = self.meta["in_channels"]
        if unit.shape[0] != expected:
            raise SparsegError(
                f"{path}: image has {unit.shape[0]} channel(s) but the model expects {expected}"
            )
        return unit


def predict_folder_onnx(
    onnx_path: Path, input_path: Path, out_dir: Path, probabilities: bool = False
) -> list[str]:
    pairs, out_dir = prediction_inputs(input_path, out_dir)
    segmenter = OnnxSegmenter(onnx_path)

    def results() -> Iterator[tuple[Pair, np.ndarray, np.ndarray]]:
        for pair in pairs:
            unit = segmenter.load(pair.image)
            probability = segmenter.probability(unit)
            yield pair, probability, segmenter.mask(unit, probability)

    return write_predictions(results(), out_dir, probabilities)
