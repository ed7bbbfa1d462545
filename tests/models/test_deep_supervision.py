"""Deep-supervision heads: outputs, level order, weights, and no trace outside training."""

from __future__ import annotations

import pytest
import torch

from sparseg.config import ModelConfig
from sparseg.errors import SparsegError
from sparseg.models import SegmentationNet, build_model, plain_model

IMAGES = torch.randn(2, 1, 64, 64)


def supervised(**overrides: object) -> ModelConfig:
    return ModelConfig(encoder="resnet18", deep_supervision=True, **overrides)


@pytest.fixture(scope="module")
def net() -> SegmentationNet:
    return build_model(supervised(deep_supervision_weights=[1.0, 0.4, 0.2, 0.1]), 1)


def test_training_forward_returns_main_and_aux_logits_at_input_size(net: SegmentationNet) -> None:
    with torch.no_grad():
        outputs = net.train()(IMAGES)
    assert isinstance(outputs, list) and len(outputs) == 4
    assert all(output.shape == (2, 1, 64, 64) for output in outputs)
    assert not torch.equal(outputs[0], outputs[1])
    with torch.no_grad():
        assert net.eval()(IMAGES).shape == (2, 1, 64, 64)


def test_heads_follow_the_levels_from_the_output_down(net: SegmentationNet) -> None:
    # resnet18 U-Net decoder channels, deepest block first: 256, 128, 64, 32, 16 (output)
    assert [head.in_channels for head in net.aux_heads] == [32, 64, 128]
    assert all(head.kernel_size == (1, 1) and head.out_channels == 1 for head in net.aux_heads)


def test_unetplusplus_heads_sit_on_the_top_row_nodes() -> None:
    net = build_model(
        supervised(architecture="unetplusplus", deep_supervision_weights=[1, 1, 1]), 1
    )
    assert net.aux_block_names == ["decoder.blocks.x_0_3", "decoder.blocks.x_0_2"]
    with torch.no_grad():
        outputs = net.train()(IMAGES)
    assert [tuple(output.shape) for output in outputs] == [(2, 1, 64, 64)] * 3


def test_every_head_receives_gradient(net: SegmentationNet) -> None:
    net.zero_grad()
    sum(output.mean() for output in net.train()(IMAGES[:, :, :32, :32])).backward()
    assert all(head.weight.grad.abs().sum() > 0 for head in net.aux_heads)


def test_capture_hooks_are_gone_after_the_forward(net: SegmentationNet) -> None:
    with torch.no_grad():
        net.train()(IMAGES[:, :, :32, :32])
    assert not any(module._forward_hooks for module in plain_model(net).modules())


def test_inference_model_has_no_heads(net: SegmentationNet) -> None:
    inference = plain_model(net)
    assert not any("aux" in name for name, _ in inference.named_modules())
    assert not any(head in list(inference.modules()) for head in net.aux_heads)
    assert len(build_model(ModelConfig(encoder="resnet18"), 1).aux_heads) == 0


@pytest.mark.parametrize("weights", [[1.0], [1.0, 0.5, 0.4, 0.3, 0.2, 0.1]])
def test_weight_counts_outside_the_decoder_levels_are_rejected(weights: list[float]) -> None:
    with pytest.raises(SparsegError, match=r"model\.deep_supervision_weights"):
        build_model(supervised(deep_supervision_weights=weights), 1)


def test_unsupported_architecture_says_so() -> None:
    with pytest.raises(SparsegError, match=r"model\.deep_supervision: not supported for .*fpn"):
        build_model(supervised(architecture="fpn"), 1)
