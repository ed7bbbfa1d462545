"""Build the segmentation network from ``model.*``: an smp model by name plus the config's tweaks.

Example::

    net = build_model(ModelConfig(architecture="unet", encoder="resnet18"), in_channels=1)
    logits = net.eval()(torch.zeros(2, 1, 64, 64))  # (2, 1, 64, 64)
    export_me = plain_model(net)                     # the smp model, no training heads
"""

from __future__ import annotations

import difflib
from typing import Any

import segmentation_models_pytorch as smp
import timm
import torch
from torch import nn

from sparseg.config import ModelConfig
from sparseg.data.foreground import ForegroundCounts, prior_logit
from sparseg.errors import SparsegError
from sparseg.models.deep_supervision import (
    build_aux_heads,
    forward_with_aux,
    supervised_block_names,
)
from sparseg.models.encoder_weights import (
    check_hub_weights,
    fetch_from_hub,
    is_hub_weights,
    load_encoder_file,
)
from sparseg.models.pretrained_weights import load_pretrained_network
from sparseg.models.tweaks import (
    SMP_DROPOUT_ARGUMENT,
    add_decoder_dropout,
    kaiming_init,
    set_bn_momentum,
    set_logit_bias,
    swap_activation,
    swap_norm,
)

DECODER_CHANNEL_ARCHITECTURES = ("unet", "unetplusplus", "manet")
DECODER_DEPTH = 5  # smp's default encoder depth: one decoder block per encoder stage


class SegmentationNet(nn.Module):
    """An smp model (``self.model``) plus deep-supervision heads (``self.aux_heads``).

    ``forward`` returns logits ``(N, 1, H, W)``; in training mode with heads it returns
    ``[main_logits, aux_1, ...]`` (output level first, then deeper levels), all at input size.
    With ``model.presence_head`` either comes paired with the presence logit ``(N, 1)``
    (:mod:`sparseg.models.outputs`).
    State-dict keys are ``model.*`` and ``aux_heads.*``, so :func:`plain_model` (or a
    ``model.``-prefixed slice of a checkpoint) is the inference network.
    """

    def __init__(
        self, model: nn.Module, architecture: str, encoder: str, aux_block_names: list[str]
    ) -> None:
        super().__init__()
        self.model = model
        self.architecture = architecture
        self.encoder_name = encoder
        self.aux_block_names = aux_block_names
        self.aux_heads = build_aux_heads(model, aux_block_names)

    def forward(self, images: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if self.training and self.aux_block_names:
            return forward_with_aux(self.model, self.aux_heads, self.aux_block_names, images)
        return self.model(images)


def plain_model(net: SegmentationNet) -> nn.Module:
    """The smp model without training heads: what inference and export use."""
    return net.model


def build_model(
    config: ModelConfig, in_channels: int, foreground: ForegroundCounts | None = None
) -> SegmentationNet:
    """Create ``config.architecture`` with ``config.encoder`` for ``in_channels`` input channels.

    Applies encoder weights, normalisation, activation, init, BatchNorm momentum, decoder
    dropout and deep supervision from ``config``; bad names or weights raise a one-line
    :class:`SparsegError`. ``foreground`` (the training masks' statistics) sets the logit heads'
    initial bias when ``config.output_bias`` is ``prior``; without it (a network about to load
    trained weights) the heads keep smp's initialisation.
    """
    architecture = _check_architecture(config.architecture)
    _check_encoder(config.encoder)
    weights = config.encoder_weights
    if weights is not None and config.pretrained_weights is not None:
        raise SparsegError(
            "model.pretrained_weights: set model.encoder_weights to none (the pre-trained "
            "network's file holds the encoder too)"
        )
    hub_weights = weights is not None and is_hub_weights(config.encoder, weights)
    model = _create(config, architecture, in_channels, weights if hub_weights else None)
    if weights is not None and not hub_weights:
        load_encoder_file(model.encoder, weights, in_channels)

    swap_norm(model, config.norm)
    swap_activation(model, config.activation, config.leaky_slope)
    if config.pretrained_weights is not None:
        load_pretrained_network(model, config.pretrained_weights, in_channels)
    aux_block_names = (
        supervised_block_names(model, architecture, config.deep_supervision_weights)
        if config.deep_supervision
        else []
    )
    net = SegmentationNet(model, architecture, config.encoder, aux_block_names)
    if config.init == "kaiming":
        random_parts = [model.decoder] if weights is not None else [model.encoder, model.decoder]
        if config.pretrained_weights is not None:
            random_parts = []
        kaiming_init(random_parts, config.activation, config.leaky_slope)
        logit_layers = [model.segmentation_head, net.aux_heads]
        if getattr(model, "classification_head", None) is not None:
            logit_layers.append(model.classification_head)
        kaiming_init(logit_layers, config.activation, config.leaky_slope, mode="fan_in")
    if config.output_bias == "prior" and foreground is not None:
        set_logit_bias(_mask_logit_layers(net), prior_logit(foreground.pixel_share))
        if getattr(model, "classification_head", None) is not None:
            presence = [m for m in model.classification_head if isinstance(m, nn.Linear)]
            set_logit_bias(presence, prior_logit(foreground.image_share))
    if config.bn_momentum is not None:
        set_bn_momentum(net, config.bn_momentum)
    add_decoder_dropout(model, architecture, config.decoder_dropout)
    return net


def _mask_logit_layers(net: SegmentationNet) -> list[nn.Module]:
    """The convolutions that emit mask logits: smp's segmentation head and the aux heads."""
    head_convs = [m for m in net.model.segmentation_head if isinstance(m, nn.Conv2d)]
    return [*head_convs, *net.aux_heads]


def describe_model(net: SegmentationNet) -> dict[str, Any]:
    """Architecture, encoder and parameter counts, for logs and run summaries."""
    return {
        "architecture": net.architecture,
        "encoder": net.encoder_name,
        "parameters": sum(p.numel() for p in net.model.parameters()),
        "trainable_parameters": sum(p.numel() for p in net.model.parameters() if p.requires_grad),
        "aux_heads": len(net.aux_heads),
        "aux_head_parameters": sum(p.numel() for p in net.aux_heads.parameters()),
    }


def _create(
    config: ModelConfig, architecture: str, in_channels: int, hub_weights: str | None
) -> nn.Module:
    extra: dict[str, Any] = {}
    if architecture in SMP_DROPOUT_ARGUMENT:
        extra[SMP_DROPOUT_ARGUMENT[architecture]] = config.decoder_dropout
    if config.decoder_channels is not None:
        extra.update(_decoder_channels(config, architecture))
    if config.presence_head:
        extra["aux_params"] = {"classes": 1, "dropout": config.presence_dropout, "pooling": "avg"}

    def create(weights: str | bool | None) -> nn.Module:
        try:
            return smp.create_model(
                architecture,
                encoder_name=config.encoder,
                encoder_weights=weights,
                in_channels=in_channels,
                classes=1,
                **extra,
            )
        except (ValueError, KeyError) as exc:  # smp's answer to names that don't fit together
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SparsegError(
                f"model: smp cannot build {architecture} with encoder {config.encoder}: {reason}"
            ) from None

    if hub_weights is None:
        return create(None)
    check_hub_weights(config.encoder, hub_weights)
    # smp wants True for timm encoders (the pretrained tag is part of the timm name).
    tag: str | bool = True if config.encoder.startswith("tu-") else hub_weights
    return fetch_from_hub(lambda: create(tag), config.encoder, hub_weights)


def _decoder_channels(config: ModelConfig, architecture: str) -> dict[str, Any]:
    """smp's ``decoder_channels`` (one width per decoder block, deepest first)."""
    if architecture not in DECODER_CHANNEL_ARCHITECTURES:
        raise SparsegError(
            f"model.decoder_channels: not supported for architecture {architecture} "
            f"(supported: {', '.join(DECODER_CHANNEL_ARCHITECTURES)}); set it to null"
        )
    channels = list(config.decoder_channels or [])
    if len(channels) != DECODER_DEPTH:
        raise SparsegError(
            f"model.decoder_channels: {len(channels)} widths given, the decoder has "
            f"{DECODER_DEPTH} blocks (e.g. [128, 64, 32, 16, 8])"
        )
    return {"decoder_channels": channels}


def _check_architecture(name: str) -> str:
    known = list(smp.MODEL_ARCHITECTURES_MAPPING)
    if name.lower() not in known:
        raise SparsegError(
            f"model.architecture: unknown {name!r}; choose one of {', '.join(known)}"
        )
    return name.lower()


def _check_encoder(name: str) -> None:
    if name.startswith("tu-"):
        if timm.is_model(name.removeprefix("tu-")):
            return
        close = difflib.get_close_matches(name.removeprefix("tu-"), timm.list_models(), n=4)
        hint = ", ".join(f"tu-{match}" for match in close) or "see timm.list_models()"
        raise SparsegError(f"model.encoder: unknown timm model {name!r}; close names: {hint}")
    known = smp.encoders.get_encoder_names()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=4) or known[:4]
        raise SparsegError(
            f"model.encoder: unknown encoder {name!r}; close names: {', '.join(close)} "
            f"(any of smp's {len(known)} encoders, or tu-<timm model>)"
        )
