"""Config-driven changes to a built smp model: decoder dropout, normalisation, BN momentum,
activation, init and the logit heads' initial bias.

Each function changes modules in place and leaves the state-dict keys as smp made them, so a
tweaked model still loads plain smp checkpoints and exports as a plain smp model.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from sparseg.errors import SparsegError

# Architectures whose decoder already has one dropout site; model.decoder_dropout sets its rate.
SMP_DROPOUT_ARGUMENT = {
    "fpn": "decoder_dropout",
    "pspnet": "psp_dropout",
    "deeplabv3": "decoder_aspp_dropout",
    "deeplabv3plus": "decoder_aspp_dropout",
}
_WEIGHTED_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def decoder_blocks(model: nn.Module) -> list[nn.Module]:
    """The decoder blocks of block-based smp decoders (unet, unetplusplus, manet, linknet)."""
    blocks = getattr(model.decoder, "blocks", None)
    if isinstance(blocks, nn.ModuleDict):
        return list(blocks.values())
    return list(blocks) if isinstance(blocks, nn.ModuleList) else []


def add_decoder_dropout(model: nn.Module, architecture: str, probability: float) -> None:
    """Append ``Dropout2d(probability)`` to the output of every decoder block.

    The dropout runs in a forward hook, so the blocks keep their smp signature and state-dict
    keys; architectures in :data:`SMP_DROPOUT_ARGUMENT` get the rate through smp instead.
    """
    if probability == 0 or architecture in SMP_DROPOUT_ARGUMENT:
        return
    blocks = decoder_blocks(model)
    if not blocks:
        supported = ["unet", "unetplusplus", "manet", "linknet", *SMP_DROPOUT_ARGUMENT]
        raise SparsegError(
            f"model.decoder_dropout: not supported for architecture {architecture} "
            f"(supported: {', '.join(supported)}); set it to 0"
        )
    for block in blocks:
        block.output_dropout = nn.Dropout2d(probability)
        block.register_forward_hook(_drop_block_output)


def _drop_block_output(
    block: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor
) -> torch.Tensor:
    return block.output_dropout(output)


def set_bn_momentum(module: nn.Module, momentum: float) -> None:
    for layer in module.modules():
        if isinstance(layer, _BatchNorm):
            layer.momentum = momentum


def swap_norm(module: nn.Module, norm: Literal["batch", "instance"]) -> None:
    """Replace every ``BatchNorm2d`` by an affine ``InstanceNorm2d`` (``batch`` keeps them).

    The learned scale and shift carry over, so pre-trained encoder weights keep their affine
    part; running statistics have no use in instance norm and are dropped.
    """
    if norm == "batch":
        return
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                instance = nn.InstanceNorm2d(
                    child.num_features, eps=child.eps, affine=True, track_running_stats=False
                )
                if child.affine:
                    with torch.no_grad():
                        instance.weight.copy_(child.weight)
                        instance.bias.copy_(child.bias)
                setattr(parent, name, instance)


def set_logit_bias(layers: Iterable[nn.Module], logit: float) -> None:
    """Set the bias of each layer (conv or linear with one output) to ``logit``."""
    for layer in layers:
        if layer.bias is None:
            raise SparsegError(f"{type(layer).__name__} has no bias to initialise")
        nn.init.constant_(layer.bias, logit)


def swap_activation(
    module: nn.Module, activation: Literal["relu", "leaky_relu", "mish"], slope: float
) -> None:
    """Replace every ``nn.ReLU`` module by LeakyReLU(slope) or Mish (``relu`` keeps them).

    Swapping the attribute also covers modules used twice (torchvision's ResNet blocks reuse one
    ``relu``); a ``torch.relu`` call written in an encoder's forward cannot be swapped.
    """
    if activation == "relu":
        return
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.ReLU):
                replacement = (
                    nn.LeakyReLU(slope, inplace=child.inplace)
                    if activation == "leaky_relu"
                    else nn.Mish(inplace=child.inplace)
                )
                setattr(parent, name, replacement)


def kaiming_init(
    modules: Iterable[nn.Module],
    activation: Literal["relu", "leaky_relu", "mish"],
    slope: float,
    mode: Literal["fan_in", "fan_out"] = "fan_out",
) -> None:
    """He-normal weights and zero biases for every conv/linear layer, BatchNorm to (1, 0).

    Mish is close enough to ReLU to share its gain. Layers that emit logits are better
    initialised with ``mode="fan_in"``: fan_out of a one-channel head gives large initial logits.
    """
    nonlinearity = "leaky_relu" if activation == "leaky_relu" else "relu"
    negative_slope = slope if activation == "leaky_relu" else 0.0
    for module in modules:
        for layer in module.modules():
            if isinstance(layer, _WEIGHTED_LAYERS):
                nn.init.kaiming_normal_(
                    layer.weight, a=negative_slope, mode=mode, nonlinearity=nonlinearity
                )
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
            elif isinstance(layer, _BatchNorm) and layer.affine:
                nn.init.ones_(layer.weight)
                nn.init.zeros_(layer.bias)
