"""``model.presence_head``: what the network returns, read through :mod:`sparseg.models.outputs`."""

from __future__ import annotations

import torch

from sparseg.config import ModelConfig
from sparseg.models import build_model, join_outputs, mask_logits, plain_model, split_outputs


def test_presence_head_returns_mask_logits_and_one_logit_per_image() -> None:
    net = build_model(ModelConfig(encoder="resnet18", presence_head=True), in_channels=1).eval()
    output = net(torch.zeros(3, 1, 64, 96))
    masks, presence = split_outputs(output)
    assert masks.shape == (3, 1, 64, 96) and presence.shape == (3, 1)
    assert mask_logits(plain_model(net)(torch.zeros(2, 1, 64, 64))).shape == (2, 1, 64, 64)


def test_deep_supervision_outputs_come_paired_with_the_presence_logit() -> None:
    config = ModelConfig(
        encoder="resnet18",
        presence_head=True,
        deep_supervision=True,
        deep_supervision_weights=[1.0, 0.5, 0.25],
    )
    net = build_model(config, in_channels=1).train()
    levels, presence = split_outputs(net(torch.zeros(2, 1, 64, 64)))
    assert [tuple(level.shape) for level in levels] == [(2, 1, 64, 64)] * 3
    assert presence.shape == (2, 1)


def test_without_a_head_outputs_are_the_segmentation_alone() -> None:
    net = build_model(ModelConfig(encoder="resnet18"), in_channels=1).eval()
    output = net(torch.zeros(1, 1, 32, 32))
    assert isinstance(output, torch.Tensor) and split_outputs(output) == (output, None)
    assert join_outputs(output, None) is output
