"""What a network returns, read in one place.

A sparseg network returns its segmentation (mask logits ``(N, 1, H, W)``, or in training with
deep supervision the list ``[main, aux_1, ...]``); with ``model.presence_head`` it returns the
tuple ``(segmentation, presence_logit (N, 1))``, as smp does with ``aux_params``. Every consumer
(loss, validation, TTA, sliding windows, ONNX export) reads outputs through these functions.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor


def split_outputs(output: Any) -> tuple[Any, Tensor | None]:
    """``(segmentation, presence logit or None)`` of any network output."""
    if isinstance(output, tuple):
        segmentation, presence = output
        return segmentation, presence
    return output, None


def join_outputs(segmentation: Any, presence: Tensor | None) -> Any:
    """The inverse of :func:`split_outputs`."""
    return segmentation if presence is None else (segmentation, presence)


def mask_logits(output: Any) -> Tensor:
    """The mask logits ``(N, 1, H, W)`` of an inference-mode output."""
    return split_outputs(output)[0]
