"""8-fold D4 test-time augmentation (flips, rot90s, transposes).

Every view is built from ``flip`` and ``transpose`` only: ``torch.rot90`` has no ONNX export
(opset 17, TorchScript exporter), and these compositions are the same permutations of pixels, so
the very same views can be folded into an exported ONNX graph.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from sparseg.models.outputs import split_outputs

ImageTransform = Callable[[Tensor], Tensor]


def identity(x: Tensor) -> Tensor:
    return x


def hflip(x: Tensor) -> Tensor:
    return x.flip(-1)


def vflip(x: Tensor) -> Tensor:
    return x.flip(-2)


def rot90(x: Tensor) -> Tensor:
    """Counter-clockwise quarter turn, equal to ``torch.rot90(x, 1, (-2, -1))``."""
    return x.transpose(-2, -1).flip(-2)


def rot180(x: Tensor) -> Tensor:
    return x.flip(-2, -1)


def rot270(x: Tensor) -> Tensor:
    """Clockwise quarter turn, equal to ``torch.rot90(x, -1, (-2, -1))``."""
    return x.transpose(-2, -1).flip(-1)


def transpose(x: Tensor) -> Tensor:
    return x.transpose(-2, -1)


def anti_transpose(x: Tensor) -> Tensor:
    """Mirror about the anti-diagonal: ``out[i, j] = x[W-1-j, H-1-i]``."""
    return x.flip(-2, -1).transpose(-2, -1)


# (forward, inverse) pairs; the first four keep (H, W), the last four swap them.
D4_VIEWS: tuple[tuple[ImageTransform, ImageTransform], ...] = (
    (identity, identity),
    (hflip, hflip),
    (vflip, vflip),
    (rot180, rot180),
    (rot90, rot270),
    (rot270, rot90),
    (transpose, transpose),
    (anti_transpose, anti_transpose),
)
_SHAPE_GROUPS = (D4_VIEWS[:4], D4_VIEWS[4:])


def d4_average(model: nn.Module, images: Tensor, batched: bool) -> tuple[Tensor, Tensor | None]:
    """Mean sigmoid probability over the 8 D4 views, each mapped back to the input's frame, and
    the mean presence probability ``(N, 1)`` of a model with a presence head (else None).

    ``batched`` runs the views as two forwards of ``4N`` images (views that keep (H, W) and views
    that swap them, so non-square inputs work), otherwise as eight forwards of ``N``. No
    ``no_grad`` here, so that the ONNX exporter can trace it; :func:`predict_with_presence` is
    the entry point for inference.
    """
    total = torch.zeros_like(images[:, :1])
    presence_total: Tensor | None = None
    if batched:
        for group in _SHAPE_GROUPS:
            views = torch.cat([forward(images) for forward, _ in group])
            logits, presence = split_outputs(model(views))
            # unflatten, not split(N): a traced split would fix the batch size in an ONNX graph
            probabilities = torch.sigmoid(logits).unflatten(0, (len(group), -1))
            for index, (_, inverse) in enumerate(group):
                total = total + inverse(probabilities[index])
            if presence is not None:
                group_sum = torch.sigmoid(presence).unflatten(0, (len(group), -1)).sum(0)
                presence_total = group_sum if presence_total is None else presence_total + group_sum
    else:
        for forward, inverse in D4_VIEWS:
            logits, presence = split_outputs(model(forward(images)))
            total = total + inverse(torch.sigmoid(logits))
            if presence is not None:
                view = torch.sigmoid(presence)
                presence_total = view if presence_total is None else presence_total + view
    mean_presence = None if presence_total is None else presence_total / len(D4_VIEWS)
    return total / len(D4_VIEWS), mean_presence


def predict_with_presence(
    model: nn.Module, images: Tensor, tta: bool, batched: bool | None = None
) -> tuple[Tensor, Tensor | None]:
    """Foreground probabilities ``(N, 1, H, W)`` of ``model`` (logits out) for ``images``, and
    its presence probabilities ``(N, 1)`` when it has a presence head (else None).

    ``images`` must already have sides the network accepts (see
    :func:`sparseg.data.preprocess.pad_to_multiple`). ``batched=None`` picks batched views on
    CUDA and sequential views elsewhere: on a 2-core CPU batching was slower at 256² and only
    1.3x faster at 128² (benchmarks/inference.py), for 4x the activation memory.
    """
    if batched is None:
        batched = images.device.type == "cuda"
    with torch.inference_mode():
        if tta:
            return d4_average(model, images, batched)
        logits, presence = split_outputs(model(images))
        return torch.sigmoid(logits), None if presence is None else torch.sigmoid(presence)


def predict_probabilities(
    model: nn.Module, images: Tensor, tta: bool, batched: bool | None = None
) -> Tensor:
    """The foreground probabilities of :func:`predict_with_presence` alone."""
    return predict_with_presence(model, images, tta, batched)[0]
