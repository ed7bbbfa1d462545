"""Dropout hooks, BatchNorm momentum, activation swap and He init on small stand-in modules."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sparseg.errors import SparsegError
from sparseg.models.tweaks import (
    add_decoder_dropout,
    kaiming_init,
    set_bn_momentum,
    swap_activation,
)


class SharedReluBlock(nn.Module):
    """Like torchvision's BasicBlock: one ``relu`` module used twice."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(self.relu(x)))


def model_with_decoder(decoder: nn.Module) -> nn.Module:
    model = nn.Module()
    model.decoder = decoder
    return model


def test_leaky_relu_swap_reaches_nested_and_shared_modules() -> None:
    block = SharedReluBlock()
    nn.init.ones_(block.conv.weight)
    model = nn.Sequential(nn.ReLU(), nn.Sequential(block))
    swap_activation(model, "leaky_relu", slope=0.1)
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())
    # −2 → −0.2 (first leaky) → −0.2 (conv ×1) → −0.02 (second use of the shared module)
    assert model(torch.full((1, 1, 1, 1), -2.0)).item() == pytest.approx(-0.002)


def test_mish_swap_and_relu_keeps_the_model() -> None:
    model = nn.Sequential(nn.Conv2d(1, 1, 1), nn.ReLU())
    swap_activation(model, "relu", slope=0.1)
    assert isinstance(model[1], nn.ReLU)
    swap_activation(model, "mish", slope=0.1)
    assert isinstance(model[1], nn.Mish)


def test_bn_momentum_on_every_batchnorm() -> None:
    model = nn.Sequential(nn.BatchNorm2d(2), nn.Sequential(nn.BatchNorm1d(2), nn.Linear(2, 2)))
    set_bn_momentum(model, 0.03)
    assert [
        m.momentum for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ] == [
        0.03,
        0.03,
    ]


@pytest.mark.parametrize(
    ("activation", "mode", "gain_squared", "fan"),
    [
        ("relu", "fan_out", 2.0, 64 * 9),
        ("mish", "fan_in", 2.0, 32 * 9),
        ("leaky_relu", "fan_out", 2.0 / (1 + 0.3**2), 64 * 9),
    ],
)
def test_kaiming_init_std(activation: str, mode: str, gain_squared: float, fan: int) -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(32, 64, 3)
    norm = nn.BatchNorm2d(64)
    nn.init.normal_(norm.weight)
    nn.init.normal_(norm.bias)
    kaiming_init([nn.Sequential(conv, norm)], activation, slope=0.3, mode=mode)
    assert conv.weight.std().item() == pytest.approx(math.sqrt(gain_squared / fan), rel=0.03)
    assert torch.equal(conv.bias, torch.zeros(64))
    assert torch.equal(norm.weight, torch.ones(64)) and torch.equal(norm.bias, torch.zeros(64))


def test_dropout_hook_drops_block_outputs_in_training_only() -> None:
    torch.manual_seed(0)
    model = model_with_decoder(nn.Module())
    model.decoder.blocks = nn.ModuleList([nn.Identity(), nn.Identity()])
    add_decoder_dropout(model, "unet", 0.5)
    block = model.decoder.blocks[0]
    ones = torch.ones(1, 64, 2, 2)
    dropped = block(ones)
    assert set(dropped.unique().tolist()) == {0.0, 2.0}  # whole channels zeroed, rest scaled
    assert torch.equal(block.eval()(ones), ones)
    assert model.state_dict() == {}  # dropout adds no state-dict keys


def test_dropout_on_a_decoder_without_blocks_is_an_error_unless_zero() -> None:
    model = model_with_decoder(nn.Identity())
    add_decoder_dropout(model, "pan", 0.0)
    with pytest.raises(SparsegError, match=r"model\.decoder_dropout: not supported for .*pan"):
        add_decoder_dropout(model, "pan", 0.2)
