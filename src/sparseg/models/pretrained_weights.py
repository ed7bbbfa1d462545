"""A whole pre-trained network: ``model.pretrained_weights`` loads encoder *and* decoder.

The file is a ``.pth``/``.pt``/``.safetensors`` state dict of an smp model's ``encoder.*`` and
``decoder.*`` (what ``sparseg pretrain`` writes; a ``SegmentationNet`` state dict with a
``model.`` prefix works too). The heads (segmentation, presence, deep supervision) are task
specific and stay as built. ``model.encoder_weights`` reads the same file for the encoder alone.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from sparseg.errors import SparsegError
from sparseg.models.encoder_weights import (
    WEIGHT_FILE_SUFFIXES,
    load_part,
    read_weight_file,
    require_tensors,
)

PRETRAINED_PARTS = ("encoder", "decoder")
_NET_PREFIX = "model."


def network_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """What a pre-trained network file holds: the smp ``model``'s encoder and decoder weights."""
    return {
        f"{part}.{name}": tensor.detach().clone()
        for part in PRETRAINED_PARTS
        for name, tensor in getattr(model, part).state_dict().items()
    }


def load_pretrained_network(model: nn.Module, path_text: str, in_channels: int) -> None:
    """Load encoder and decoder of the smp ``model`` from ``path_text``; a file that lacks one of
    them or does not fit the configured network is one :class:`SparsegError` line."""
    key = f"model.pretrained_weights={path_text}"
    expected = f"a {'/'.join(WEIGHT_FILE_SUFFIXES)} state dict written by sparseg pretrain"
    raw = read_weight_file(path_text, key, expected)
    require_tensors(raw, key)
    for part in PRETRAINED_PARTS:
        state = _part_state(raw, part)
        if not state:
            raise SparsegError(
                f"{key}: holds no {part} weights ({part}.* keys); a file with the encoder only "
                "belongs in model.encoder_weights"
            )
        failure = f"{key}: does not fit the configured {part}"
        load_part(getattr(model, part), state, in_channels, failure)


def _part_state(raw: Mapping[str, object], part: str) -> dict[str, torch.Tensor]:
    for prefix in (f"{_NET_PREFIX}{part}.", f"{part}."):
        found = {n.removeprefix(prefix): t for n, t in raw.items() if n.startswith(prefix)}
        if found:
            return found  # type: ignore[return-value]
    return {}
