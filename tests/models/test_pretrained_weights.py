"""``model.pretrained_weights``: encoder and decoder from one file, heads fresh, one-line errors."""

from __future__ import annotations

import pytest
import torch

from sparseg.config import ModelConfig
from sparseg.errors import SparsegError
from sparseg.models import build_model, plain_model
from sparseg.models.pretrained_weights import network_state


def small(**fields) -> ModelConfig:
    return ModelConfig(encoder="resnet18", decoder_channels=[32, 16, 16, 8, 8], **fields)


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(1)
    source = plain_model(build_model(small(), 1))
    path = tmp_path / "net.pth"
    torch.save(network_state(source), path)
    return path, source


def test_encoder_and_decoder_load_and_the_head_stays_fresh(saved) -> None:
    path, source = saved
    torch.manual_seed(2)
    loaded = plain_model(build_model(small(pretrained_weights=str(path), init="kaiming"), 1))
    fresh = plain_model(build_model(small(init="kaiming"), 1))
    for name, tensor in loaded.state_dict().items():
        if name.startswith(("encoder.", "decoder.")):
            assert torch.equal(tensor, source.state_dict()[name]), name
    head = "segmentation_head.0.weight"
    assert not torch.equal(loaded.state_dict()[head], source.state_dict()[head])
    assert loaded.state_dict()[head].shape == fresh.state_dict()[head].shape


def test_three_channel_weights_are_adapted_to_one(tmp_path) -> None:
    path = tmp_path / "rgb.pth"
    torch.save(network_state(plain_model(build_model(small(), 3))), path)
    net = plain_model(build_model(small(pretrained_weights=str(path)), 1))
    assert net.encoder.conv1.weight.shape[1] == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"encoder_weights": "x.pth"}, "set model.encoder_weights to none"),
        ({"decoder_channels": [64, 32, 16, 8, 8]}, "does not fit the configured decoder"),
        ({"encoder": "resnet34"}, "does not fit the configured encoder"),
    ],
)
def test_a_network_that_does_not_fit_is_one_error_line(saved, change, message) -> None:
    path, _ = saved
    config = small(pretrained_weights=str(path)).model_copy(update=change)
    with pytest.raises(SparsegError, match=message) as error:
        build_model(config, 1)
    assert "\n" not in str(error.value)


def test_an_encoder_only_file_points_to_encoder_weights(tmp_path) -> None:
    encoder = plain_model(build_model(small(), 1)).encoder
    path = tmp_path / "encoder.pth"
    torch.save(encoder.state_dict(), path)
    with pytest.raises(SparsegError, match="holds no encoder weights"):
        build_model(small(pretrained_weights=str(path)), 1)
    with pytest.raises(SparsegError, match=r"file not found .*sparseg pretrain"):
        build_model(small(pretrained_weights=str(tmp_path / "absent.pth")), 1)
