"""Run an exported sparseg ONNX model with onnxruntime: numpy in, probabilities out, no PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

from sparseg.data.preprocess import pad_to_multiple
from sparseg.errors import SparsegError

_LOAD_ERRORS = (
    ort_errors.Fail,
    ort_errors.InvalidArgument,
    ort_errors.InvalidGraph,
    ort_errors.InvalidProtobuf,
    ort_errors.NoModel,
    ort_errors.NotImplemented,
)


class OnnxModel:
    """The bare exported network: probabilities from a model written by
    :func:`sparseg.inference.onnx_export.export_onnx` (the whole prediction pipeline around it is
    :class:`sparseg.inference.onnx_predict.OnnxPredictor`).

    Images of any size are padded (centred, edge replication, as the PyTorch path does) to a
    multiple of ``multiple`` and the output cropped back. ``threads`` caps onnxruntime's intra-op
    threads (default: its own choice, one per physical core).

    Example::

        model = OnnxModel(Path("model.onnx"))
        probabilities = model(images)  # (N, C, H, W) float32 -> (N, 1, H, W)
        probabilities, presence = model.predict(images)  # presence (N, 1) or None
    """

    def __init__(self, path: Path, multiple: int = 32, threads: int | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise SparsegError(f"{self.path}: file not found")
        options = onnxruntime.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        try:
            self.session = onnxruntime.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except _LOAD_ERRORS as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SparsegError(f"{self.path}: not an ONNX model ({reason})") from None
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        channels = model_input.shape[1] if len(model_input.shape) == 4 else None
        self.in_channels = channels if isinstance(channels, int) else None
        self.multiple = multiple
        self.output_names = [output.name for output in self.session.get_outputs()]
        self.has_presence = len(self.output_names) > 1

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.predict(images)[0]

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Probabilities ``(N, 1, H, W)`` and, for a model exported with a presence head (its
        second output), the presence probabilities ``(N, 1)``; else None."""
        probabilities, *rest = self.outputs(images).values()
        return probabilities, rest[0] if rest else None

    def outputs(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Every output of the graph by name, the probabilities first (cropped back to the
        images' size)."""
        if images.ndim != 4:
            raise SparsegError(f"{self.path}: expects images (N, C, H, W), got {images.shape}")
        if self.in_channels is not None and images.shape[1] != self.in_channels:
            raise SparsegError(
                f"{self.path}: model expects {self.in_channels} channel(s), "
                f"images have {images.shape[1]}"
            )
        padded, (rows, cols) = pad_to_multiple(images.astype(np.float32, copy=False), self.multiple)
        probabilities, *rest = self.session.run(None, {self.input_name: padded})
        names = self.output_names
        return {names[0]: probabilities[..., rows, cols], **dict(zip(names[1:], rest, strict=True))}
