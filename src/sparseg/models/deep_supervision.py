"""Deep-supervision heads: 1x1 convs on decoder levels below the output, for training only.

Levels run from the full-resolution output to ever deeper decoder blocks, matching
``model.deep_supervision_weights`` (output weight first). The heads read the blocks' outputs
through forward hooks that exist only during a supervised forward, so the smp model itself
stays untouched and exports without them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sparseg.errors import SparsegError
from sparseg.models.outputs import join_outputs, split_outputs

SUPPORTED_ARCHITECTURES = ("unet", "unetplusplus")


def level_block_names(model: nn.Module, architecture: str) -> list[str]:
    """Names of the decoder blocks that end each level, from the output level to the deepest."""
    if architecture == "unet":
        count = len(model.decoder.blocks)
        return [f"decoder.blocks.{index}" for index in reversed(range(count))]
    if architecture == "unetplusplus":
        # x_0_<level> closes each level of U-Net++: it consumes every other node of its level.
        return [f"decoder.blocks.x_0_{level}" for level in reversed(range(model.decoder.depth + 1))]
    raise SparsegError(
        f"model.deep_supervision: not supported for architecture {architecture} "
        f"(supported: {', '.join(SUPPORTED_ARCHITECTURES)})"
    )


def supervised_block_names(model: nn.Module, architecture: str, weights: list[float]) -> list[str]:
    """The blocks whose outputs get an auxiliary head: one per weight after the first."""
    levels = level_block_names(model, architecture)
    if len(weights) < 2:
        raise SparsegError(
            "model.deep_supervision_weights: needs the output's weight and at least one "
            f"decoder level's weight, got {weights}"
        )
    if len(weights) > len(levels):
        raise SparsegError(
            f"model.deep_supervision_weights: {len(weights)} weights, but this {architecture} "
            f"has {len(levels)} decoder levels (output included); give at most {len(levels)}"
        )
    return levels[1 : len(weights)]


def build_aux_heads(model: nn.Module, block_names: list[str]) -> nn.ModuleList:
    """One 1x1 conv to a single logit channel per supervised block."""
    return nn.ModuleList(
        nn.Conv2d(model.get_submodule(name).conv2[0].out_channels, 1, kernel_size=1)
        for name in block_names
    )


def forward_with_aux(
    model: nn.Module, heads: nn.ModuleList, block_names: list[str], images: torch.Tensor
) -> list[torch.Tensor] | tuple[list[torch.Tensor], torch.Tensor]:
    """``[main_logits, aux_1, ...]``, every output bilinearly upsampled to the input size (with
    a presence head, paired with its logit as :mod:`sparseg.models.outputs` says)."""
    captured: dict[int, torch.Tensor] = {}
    hooks = [
        model.get_submodule(name).register_forward_hook(_capture_into(captured, index))
        for index, name in enumerate(block_names)
    ]
    try:
        logits, presence = split_outputs(model(images))
    finally:
        for hook in hooks:
            hook.remove()
    size = images.shape[-2:]
    aux = [
        F.interpolate(head(captured[index]), size=size, mode="bilinear", align_corners=False)
        for index, head in enumerate(heads)
    ]
    return join_outputs([logits, *aux], presence)


def _capture_into(captured: dict[int, torch.Tensor], index: int):
    def capture(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        captured[index] = output

    return capture
