"""Encoder weights: local files (round trip, prefixes, channel adaptation, errors) and the hub."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import safetensors.torch
import segmentation_models_pytorch as smp
import torch
from huggingface_hub import constants as hub_constants
from huggingface_hub.errors import LocalEntryNotFoundError

from sparseg.config import ModelConfig
from sparseg.errors import SparsegError
from sparseg.models import build_model
from sparseg.models import encoder_weights as weights_module
from sparseg.models.encoder_weights import hub_reachable, load_encoder_file


def encoder(in_channels: int = 1) -> torch.nn.Module:
    return smp.encoders.get_encoder("resnet18", in_channels=in_channels, weights=None)


def saved_state(tmp_path: Path, suffix: str, state: dict[str, torch.Tensor]) -> Path:
    path = tmp_path / f"encoder{suffix}"
    if suffix == ".safetensors":
        safetensors.torch.save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return path


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_local_file_round_trip_through_build_model(tmp_path: Path, suffix: str) -> None:
    source = encoder().state_dict()
    path = saved_state(tmp_path, suffix, source)
    config = ModelConfig(encoder="resnet18", encoder_weights=str(path), init="kaiming")
    loaded = build_model(config, in_channels=1).model.encoder.state_dict()
    assert all(torch.equal(loaded[key], source[key]) for key in source)  # kaiming spared it


@pytest.mark.parametrize("prefix", ["encoder.", "model.encoder."])
def test_full_model_state_dicts_are_stripped_to_the_encoder(tmp_path: Path, prefix: str) -> None:
    source = encoder().state_dict()
    full = {f"{prefix}{key}": value for key, value in source.items()}
    full[prefix.replace("encoder.", "decoder.") + "conv.weight"] = torch.zeros(1)
    target = encoder()
    load_encoder_file(target, str(saved_state(tmp_path, ".pt", full)), in_channels=1)
    assert torch.equal(target.state_dict()["layer4.1.bn2.weight"], source["layer4.1.bn2.weight"])
    assert torch.equal(target.conv1.weight, source["conv1.weight"])


def test_three_channel_weights_are_summed_for_one_channel(tmp_path: Path) -> None:
    rgb = encoder(in_channels=3).state_dict()
    target = encoder(in_channels=1)
    load_encoder_file(target, str(saved_state(tmp_path, ".pth", rgb)), in_channels=1)
    assert torch.allclose(target.conv1.weight, rgb["conv1.weight"].sum(1, keepdim=True))


def test_file_without_batch_counters_loads(tmp_path: Path) -> None:
    state = {k: v for k, v in encoder().state_dict().items() if "num_batches" not in k}
    target = encoder()
    load_encoder_file(target, str(saved_state(tmp_path, ".safetensors", state)), 1)
    loaded = target.state_dict()
    assert all(torch.equal(loaded[key], value) for key, value in state.items())


def test_only_batch_counters_may_be_missing(tmp_path: Path) -> None:
    state = encoder().state_dict()
    del state["layer3.0.bn1.running_var"]
    path = saved_state(tmp_path, ".pth", state)
    with pytest.raises(SparsegError, match=r"does not fit the encoder: missing key layer3\.0"):
        load_encoder_file(encoder(), str(path), 1)


def test_shape_mismatch_names_the_file_and_the_key(tmp_path: Path) -> None:
    state = encoder().state_dict()
    state["layer2.0.conv1.weight"] = torch.zeros(3, 3, 3, 3)
    path = saved_state(tmp_path, ".pth", state)
    with pytest.raises(SparsegError) as caught:
        build_model(ModelConfig(encoder="resnet18", encoder_weights=str(path)), in_channels=1)
    message = str(caught.value)
    assert str(path) in message and "layer2.0.conv1.weight" in message and "(3, 3, 3, 3)" in message


def test_another_encoders_weights_are_rejected(tmp_path: Path) -> None:
    state = smp.encoders.get_encoder("resnet34", in_channels=1, weights=None).state_dict()
    with pytest.raises(SparsegError, match=r"unexpected key layer1\.2\."):
        load_encoder_file(encoder(), str(saved_state(tmp_path, ".pth", state)), 1)
    partial = {k: v for k, v in encoder().state_dict().items() if not k.startswith("layer4")}
    with pytest.raises(SparsegError, match=r"missing key layer4\.0\.conv1\.weight"):
        load_encoder_file(encoder(), str(saved_state(tmp_path, ".pt", partial)), 1)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("absent.pth", None, "file not found"),
        ("weights.bin", b"x", "unsupported file type"),
        ("corrupt.pth", b"not a pickle", "not a readable state dict"),
        ("corrupt.safetensors", b"not safetensors", "not a readable state dict"),
    ],
)
def test_unusable_files_are_one_line_errors(
    tmp_path: Path, name: str, content: bytes | None, problem: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SparsegError, match=problem) as caught:
        load_encoder_file(encoder(), str(path), 1)
    assert f"model.encoder_weights={path}" in str(caught.value)


def test_a_saved_object_that_is_not_a_state_dict_is_rejected(tmp_path: Path) -> None:
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(SparsegError, match="expected a state dict"):
        load_encoder_file(encoder(), str(tmp_path / "list.pth"), 1)


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Replace smp's download with one that records whether offline mode was on."""
    offline_seen: list[bool] = []

    def download(*args: object, **kwargs: object) -> str:
        offline_seen.append(hub_constants.HF_HUB_OFFLINE)
        raise LocalEntryNotFoundError("not in the cache")

    monkeypatch.setattr(smp.encoders, "hf_hub_download", download)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    return offline_seen


def test_imagenet_offline_fails_with_advice(
    fake_hub: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(weights_module, "hub_reachable", lambda: pytest.fail("probed"))
    with pytest.raises(SparsegError) as caught:
        build_model(ModelConfig(encoder="resnet18", encoder_weights="imagenet"), in_channels=1)
    assert str(caught.value) == (
        "model.encoder_weights=imagenet: could not fetch pretrained weights for resnet18 "
        "(offline?); download them elsewhere and set model.encoder_weights to the local "
        ".pth/.safetensors file"
    )
    assert fake_hub == [True]
    assert hub_constants.HF_HUB_OFFLINE is False  # restored after the call


def test_unreachable_hub_switches_offline_mode_on(
    fake_hub: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(weights_module, "hub_reachable", lambda: False)
    with pytest.raises(SparsegError, match="could not fetch pretrained weights"):
        build_model(ModelConfig(encoder="resnet18", encoder_weights="imagenet"), in_channels=1)
    assert fake_hub == [True]


def test_reachable_hub_keeps_online_mode(
    fake_hub: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(weights_module, "hub_reachable", lambda: True)
    with pytest.raises(SparsegError):
        build_model(ModelConfig(encoder="resnet18", encoder_weights="imagenet"), in_channels=1)
    assert fake_hub == [False]


def test_imagenet_through_the_real_hub_client_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path))  # an empty cache
    with pytest.raises(SparsegError, match=r"set model\.encoder_weights to the local"):
        build_model(ModelConfig(encoder="resnet18", encoder_weights="imagenet"), in_channels=1)


def test_weights_smp_does_not_list_for_the_encoder(fake_hub: list[bool]) -> None:
    config = ModelConfig(encoder="resnext101_32x4d", encoder_weights="imagenet")
    with pytest.raises(SparsegError, match="available: ssl, swsl"):
        build_model(config, in_channels=1)
    assert fake_hub == []


def test_hub_probe_sees_an_open_and_a_closed_port(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        monkeypatch.setattr(hub_constants, "ENDPOINT", f"http://127.0.0.1:{port}")
        assert hub_reachable(timeout=1.0)
    assert not hub_reachable(timeout=1.0)
