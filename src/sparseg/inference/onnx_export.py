"""Export a segmentation model to ONNX (sigmoid and optional 8x TTA inside the graph), verified.

A model with a presence head keeps it as the graph's second output, ``presence (N, 1)``. An
ensemble of such models adds ``member_presence (N, M)``: each member's presence times its weight
(they sum to ``presence``), so that a windowed prediction can take each member's largest window
before averaging, as the PyTorch ensemble does.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from sparseg.errors import SparsegError
from sparseg.inference.onnx_runtime import OnnxModel
from sparseg.inference.tta import d4_average
from sparseg.io_utils import atomic_write
from sparseg.models.outputs import split_outputs

MIN_OPSET = 17
OUTPUT_NAMES = ("probabilities", "presence", "member_presence")
# float32 convolutions summed in another order (onnxruntime's kernels vs PyTorch's) differ by
# ~1e-4 in a probability on deep or freshly trained nets; a real export fault is orders larger.
PROBABILITY_TOLERANCE = 1e-3
EXPORT_SIZE = (64, 64)
# Both differ from the traced size and from each other, and are non-square in both directions,
# so the dynamic axes and the TTA views that swap height and width are exercised.
CHECK_SHAPES = ((2, 96, 64), (1, 64, 128))


class ProbabilityModel(nn.Module):
    """Wraps logits models so that they return their weighted mean probabilities (one model, or
    the runs of an ensemble), each optionally averaged over D4 TTA; with presence heads, the
    outputs named in :data:`OUTPUT_NAMES` instead: ``(probabilities, presence)``, and for an
    ensemble also each member's weighted presence."""

    def __init__(
        self,
        models: nn.Module | Sequence[nn.Module],
        tta: bool = False,
        weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.models = nn.ModuleList([models] if isinstance(models, nn.Module) else models)
        weights = [1.0] * len(self.models) if weights is None else list(weights)
        if len(weights) != len(self.models):
            raise ValueError(f"{len(weights)} weights for {len(self.models)} models")
        self.weights = [weight / sum(weights) for weight in weights]
        self.tta = tta

    def forward(self, images: Tensor) -> Tensor | tuple[Tensor, ...]:
        outputs = [self._probabilities(model, images) for model in self.models]
        probabilities = sum(w * p for w, (p, _) in zip(self.weights, outputs, strict=True))
        presences = [presence for _, presence in outputs]
        if any(p is None for p in presences):
            return probabilities  # type: ignore[return-value]
        weighted = [w * p for w, p in zip(self.weights, presences, strict=True)]
        presence = sum(weighted)
        if len(weighted) == 1:
            return probabilities, presence  # type: ignore[return-value]
        return probabilities, presence, torch.cat(weighted, dim=1)  # type: ignore[return-value]

    def _probabilities(self, model: nn.Module, images: Tensor) -> tuple[Tensor, Tensor | None]:
        if self.tta:
            # Two forwards (views keeping / swapping H and W) trace to one graph for any size.
            return d4_average(model, images, batched=True)
        logits, presence = split_outputs(model(images))
        return torch.sigmoid(logits), None if presence is None else torch.sigmoid(presence)


def compare_probabilities(
    expected: np.ndarray, actual: np.ndarray, threshold: float
) -> tuple[float, str | None]:
    """Max abs difference of two probability arrays, and what is wrong, if anything: a
    difference above ``PROBABILITY_TOLERANCE``, or masks at ``threshold`` that disagree on a
    pixel whose PyTorch probability is not within that tolerance of the threshold."""
    difference = float(np.abs(actual - expected).max())
    flipped = (expected > threshold) != (actual > threshold)
    clear = np.abs(expected - threshold) > PROBABILITY_TOLERANCE
    wrong_pixels = int((flipped & clear).sum())
    problems = []
    if difference > PROBABILITY_TOLERANCE:
        tolerance = f"tolerance {PROBABILITY_TOLERANCE:.0e}"
        problems.append(f"probabilities differ by up to {difference:.2e} ({tolerance})")
    if wrong_pixels:
        problems.append(
            f"{wrong_pixels} of {flipped.size} mask pixels differ at threshold {threshold:g}"
        )
    return difference, "; ".join(problems) or None


def _check_export(
    wrapper: ProbabilityModel, onnx_path: Path, in_channels: int, threshold: float
) -> tuple[float, str | None]:
    generator = torch.Generator().manual_seed(0)
    runtime = OnnxModel(onnx_path)
    expected, actual, presence_difference = [], [], 0.0
    for batch, height, width in CHECK_SHAPES:
        images = torch.randn((batch, in_channels, height, width), generator=generator)
        with torch.inference_mode():
            outputs = _named_outputs(wrapper(images))
        onnx_outputs = runtime.outputs(images.numpy())
        expected.append(outputs.pop("probabilities").numpy().ravel())
        actual.append(onnx_outputs["probabilities"].ravel())
        for name, value in outputs.items():
            if name not in onnx_outputs:
                return math.inf, f"the {name} output is missing"
            gap = float(np.abs(onnx_outputs[name] - value.numpy()).max())
            presence_difference = max(presence_difference, gap)
    difference, problem = compare_probabilities(
        np.concatenate(expected), np.concatenate(actual), threshold
    )
    if presence_difference > PROBABILITY_TOLERANCE:
        gap = f"presence differs by up to {presence_difference:.2e}"
        problem = f"{problem}; {gap}" if problem else gap
    return max(difference, presence_difference), problem


def _named_outputs(output: Tensor | tuple[Tensor, ...]) -> dict[str, Tensor]:
    outputs = output if isinstance(output, tuple) else (output,)
    return dict(zip(OUTPUT_NAMES, outputs, strict=False))


def export_onnx(
    model: nn.Module | Sequence[nn.Module],
    path: Path,
    in_channels: int,
    tta: bool = False,
    opset: int = MIN_OPSET,
    check: bool = True,
    threshold: float = 0.5,
    weights: Sequence[float] | None = None,
) -> float:
    """Write ``model`` (logits out) to ``path`` as an ONNX graph mapping ``images (N, C, H, W)``
    to ``probabilities (N, 1, H, W)`` (and ``presence (N, 1)`` for a model with a presence
    head; an ensemble's, see the module docstring), with dynamic batch and spatial axes (sides
    must be multiples of the encoder's stride; :class:`OnnxModel` pads). ``tta`` folds the 8
    D4 views into the graph. Several models (an ensemble) become one graph that returns their
    mean probabilities, weighted by ``weights`` (default: equally).

    With ``check``, onnxruntime's output is compared with PyTorch's on random inputs of two other
    sizes before the file replaces ``path`` (see :func:`compare_probabilities`, masks at the
    tuned ``threshold``); returns the max abs difference (0.0 unchecked) and raises
    :class:`SparsegError` saying what differed, leaving ``path`` untouched.
    """
    if opset < MIN_OPSET:
        raise SparsegError(f"onnx opset: {opset} is below the supported minimum {MIN_OPSET}")
    path = Path(path)
    models = [model] if isinstance(model, nn.Module) else list(model)
    copies = [copy.deepcopy(member).cpu().float() for member in models]
    wrapper = ProbabilityModel(copies, tta=tta, weights=weights).eval()
    example = torch.zeros((1, in_channels, *EXPORT_SIZE))
    spatial_axes = {0: "batch", 2: "height", 3: "width"}
    with torch.inference_mode():
        names = list(_named_outputs(wrapper(example)))
    axes = {"images": spatial_axes, "probabilities": spatial_axes}
    axes |= {name: {0: "batch"} for name in names[1:]}
    difference = 0.0

    def write(tmp: Path) -> None:
        nonlocal difference
        with warnings.catch_warnings():
            # dynamo=True needs onnxscript; the TorchScript exporter's deprecation notice is noise.
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                wrapper,
                (example,),
                str(tmp),
                input_names=["images"],
                output_names=names,
                dynamic_axes=axes,
                opset_version=opset,
                dynamo=False,
            )
        if check:
            difference, problem = _check_export(wrapper, tmp, in_channels, threshold)
            if problem is not None:
                raise SparsegError(
                    f"{path}: ONNX output differs from PyTorch: {problem}; file not written"
                )

    atomic_write(path, write)
    return difference
