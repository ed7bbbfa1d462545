"""build_model: architectures by name, name errors, config keys, checkpoint layout."""

from __future__ import annotations

import math
import re

import pytest
import segmentation_models_pytorch as smp
import torch
from torch import nn

from sparseg.config import ModelConfig
from sparseg.errors import SparsegError
from sparseg.models import SegmentationNet, build_model, describe_model, plain_model

IMAGES = torch.randn(2, 1, 64, 64)
SMALL_IMAGES = torch.randn(2, 1, 32, 32)


def small(**overrides: object) -> ModelConfig:
    return ModelConfig(**{"encoder": "resnet18", **overrides})


@pytest.fixture(scope="module")
def supervised_net() -> SegmentationNet:
    return build_model(small(deep_supervision=True), in_channels=1)


@pytest.mark.parametrize("architecture", ["unet", "unetplusplus", "fpn"])
def test_architectures_return_one_logit_map_at_input_size(architecture: str) -> None:
    net = build_model(small(architecture=architecture), in_channels=1)
    assert isinstance(plain_model(net), smp.MODEL_ARCHITECTURES_MAPPING[architecture])
    with torch.no_grad():
        assert net.eval()(IMAGES).shape == (2, 1, 64, 64)
        assert net.train()(IMAGES).shape == (2, 1, 64, 64)


def test_timm_universal_encoder_by_name() -> None:
    net = build_model(small(encoder="tu-resnet10t"), in_channels=3)
    with torch.no_grad():
        assert net.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 1, 64, 64)


@pytest.mark.parametrize(
    ("overrides", "key", "hint"),
    [
        ({"encoder": "resnet81"}, "model.encoder", "resnet18"),
        ({"encoder": "tu-resnet1088"}, "model.encoder", "tu-resnet"),
        ({"architecture": "unet3d"}, "model.architecture", "unetplusplus"),
    ],
)
def test_unknown_names_raise_with_the_key_and_valid_names(
    overrides: dict[str, str], key: str, hint: str
) -> None:
    with pytest.raises(SparsegError, match=re.escape(key)) as caught:
        build_model(ModelConfig(**{"encoder": "resnet18", **overrides}), in_channels=1)
    assert hint in str(caught.value)
    assert "\n" not in str(caught.value)


def test_names_smp_rejects_together_become_one_line() -> None:
    with pytest.raises(SparsegError, match="smp cannot build dpt with encoder resnet18"):
        build_model(small(architecture="dpt"), in_channels=1)


def test_plain_model_has_smp_keys_and_heads_are_kept_apart(supervised_net: SegmentationNet) -> None:
    net = supervised_net
    reference = smp.create_model("unet", "resnet18", encoder_weights=None, in_channels=1)
    assert plain_model(net).state_dict().keys() == reference.state_dict().keys()
    head_keys = {key for key in net.state_dict() if not key.startswith("model.")}
    assert head_keys and all(key.startswith("aux_heads.") for key in head_keys)


def test_checkpoint_round_trip_gives_the_same_inference_output(
    supervised_net: SegmentationNet,
) -> None:
    restored = build_model(small(deep_supervision=True), in_channels=1)
    restored.load_state_dict(supervised_net.state_dict())
    with torch.no_grad():
        expected = plain_model(supervised_net).eval()(SMALL_IMAGES)
        assert torch.equal(plain_model(restored).eval()(SMALL_IMAGES), expected)


def test_describe_model_counts_parameters(supervised_net: SegmentationNet) -> None:
    net = supervised_net
    summary = describe_model(net)
    assert summary["architecture"] == "unet" and summary["encoder"] == "resnet18"
    assert summary["parameters"] == sum(p.numel() for p in plain_model(net).parameters())
    assert summary["aux_heads"] == 3
    assert summary["aux_head_parameters"] == (32 + 1) + (64 + 1) + (128 + 1)


def test_bn_momentum_reaches_every_batchnorm() -> None:
    net = build_model(small(bn_momentum=0.01), in_channels=1)
    momenta = {m.momentum for m in net.modules() if isinstance(m, nn.BatchNorm2d)}
    assert momenta == {0.01}
    default = build_model(small(), in_channels=1)
    assert {m.momentum for m in default.modules() if isinstance(m, nn.BatchNorm2d)} == {0.1}


@pytest.mark.parametrize(("activation", "kind"), [("leaky_relu", nn.LeakyReLU), ("mish", nn.Mish)])
def test_activation_replaces_every_relu(activation: str, kind: type[nn.Module]) -> None:
    net = build_model(small(activation=activation, leaky_slope=0.2), in_channels=1)
    assert not any(isinstance(m, nn.ReLU) for m in net.modules())
    swapped = [m for m in net.modules() if isinstance(m, kind)]
    assert any(m in list(plain_model(net).encoder.modules()) for m in swapped)
    assert any(m in list(plain_model(net).decoder.modules()) for m in swapped)
    if activation == "leaky_relu":
        assert {m.negative_slope for m in swapped} == {0.2}


def test_kaiming_init_sets_he_std_on_the_decoder() -> None:
    torch.manual_seed(0)
    conv = build_model(small(init="kaiming"), 1).model.decoder.blocks[0].conv1[0]
    he_std = math.sqrt(2 / (conv.out_channels * 9))  # fan_out
    assert conv.weight.std().item() == pytest.approx(he_std, rel=0.03)
    default_conv = build_model(small(), 1).model.decoder.blocks[0].conv1[0]
    assert default_conv.weight.std().item() != pytest.approx(he_std, rel=0.2)


def test_kaiming_init_covers_a_random_encoder_and_uses_the_leaky_slope() -> None:
    torch.manual_seed(0)
    config = small(init="kaiming", activation="leaky_relu", leaky_slope=0.5)
    conv = build_model(config, 1).model.encoder.layer4[0].conv2
    expected = math.sqrt(2 / (1 + 0.5**2)) / math.sqrt(conv.out_channels * 9)
    assert conv.weight.std().item() == pytest.approx(expected, rel=0.03)


def test_decoder_dropout_adds_one_dropout_per_decoder_block() -> None:
    net = build_model(small(decoder_dropout=0.3), in_channels=1)
    dropouts = [m for m in net.modules() if isinstance(m, nn.Dropout2d)]
    assert len(dropouts) == len(net.model.decoder.blocks) and {d.p for d in dropouts} == {0.3}
    without = build_model(small(), in_channels=1)
    assert not any(isinstance(m, nn.Dropout2d) for m in without.modules())


def test_decoder_dropout_changes_training_outputs_only() -> None:
    torch.manual_seed(0)
    net = build_model(small(decoder_dropout=0.5), in_channels=1)
    with torch.no_grad():
        assert not torch.equal(net.train()(SMALL_IMAGES), net.train()(SMALL_IMAGES))
        assert torch.equal(net.eval()(SMALL_IMAGES), net.eval()(SMALL_IMAGES))


def test_decoder_dropout_for_fpn_sets_smps_own_dropout() -> None:
    net = build_model(small(architecture="fpn", decoder_dropout=0.3), in_channels=1)
    assert net.model.decoder.dropout.p == 0.3


@pytest.mark.parametrize("architecture", ["unet", "unetplusplus", "manet"])
def test_decoder_channels_set_the_decoder_widths(architecture: str) -> None:
    widths = [64, 32, 16, 8, 4]
    net = build_model(small(architecture=architecture, decoder_channels=widths), in_channels=1)
    default = build_model(small(architecture=architecture), in_channels=1)
    assert describe_model(net)["parameters"] < describe_model(default)["parameters"]
    assert net.model.segmentation_head[0].in_channels == widths[-1]
    assert net.eval()(torch.zeros(1, 1, 64, 64)).shape == (1, 1, 64, 64)


def test_decoder_channels_refused_where_smp_has_no_such_widths() -> None:
    with pytest.raises(SparsegError, match=r"model\.decoder_channels: not supported for .* fpn"):
        build_model(small(architecture="fpn", decoder_channels=[8] * 5), in_channels=1)
    with pytest.raises(SparsegError, match="3 widths given, the decoder has 5 blocks"):
        build_model(small(decoder_channels=[64, 32, 16]), in_channels=1)
