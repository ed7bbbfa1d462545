"""Pretrained encoder weights: smp's hub download that fails fast offline, or a local file.

``model.encoder_weights`` is ``None`` (random), a pretrained tag smp knows for the encoder
(``imagenet``; ``ssl``/``swsl``/... where smp lists them), or the path of a ``.pth``/``.pt``/
``.safetensors`` state dict of the encoder (a full smp-model state dict with an ``encoder.``
prefix, or a ``SegmentationNet`` one with ``model.encoder.``, works too).
"""

from __future__ import annotations

import os
import socket
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import safetensors.torch
import segmentation_models_pytorch as smp
import torch
from huggingface_hub import constants as hub_constants
from timm.models import adapt_input_conv
from torch import nn

from sparseg.errors import SparsegError

WEIGHT_FILE_SUFFIXES = (".pth", ".pt", ".safetensors")
HUB_PROBE_SECONDS = 2.0
# Checkpoint prefixes in front of encoder keys: SegmentationNet first, then a plain smp model.
_ENCODER_PREFIXES = ("model.encoder.", "encoder.")


def is_hub_weights(encoder: str, weights: str) -> bool:
    """True when ``weights`` names a pretrained tag (downloaded by smp/timm), not a file."""
    if encoder.startswith("tu-"):
        return weights == "imagenet"
    settings = smp.encoders.encoders.get(encoder, {}).get("pretrained_settings", {})
    return weights == "imagenet" or weights in settings


def check_hub_weights(encoder: str, weights: str) -> None:
    """Raise before any download when smp has no ``weights`` tag for ``encoder``."""
    if encoder.startswith("tu-"):
        return
    available = list(smp.encoders.encoders[encoder]["pretrained_settings"])
    if weights not in available:
        raise SparsegError(
            f"model.encoder_weights={weights}: no such pretrained weights for encoder {encoder} "
            f"(available: {', '.join(available) or 'none'}); use none or a local weights file"
        )


def fetch_from_hub(build: Callable[[], nn.Module], encoder: str, weights: str) -> nn.Module:
    """Run ``build`` (an smp constructor that downloads weights), failing fast when offline.

    huggingface_hub retries for 23–47 s without a network unless offline mode is on, so offline
    mode is switched on for the call when ``HF_HUB_OFFLINE`` is set or a short probe of the hub
    fails; cached weights still load in offline mode.
    """
    try:
        with _offline_unless_hub_reachable():
            return build()
    except OSError:  # huggingface_hub's not-found/HTTP errors and socket errors are all OSErrors
        raise SparsegError(
            f"model.encoder_weights={weights}: could not fetch pretrained weights for {encoder} "
            "(offline?); download them elsewhere and set model.encoder_weights to the local "
            ".pth/.safetensors file"
        ) from None


@contextmanager
def _offline_unless_hub_reachable() -> Iterator[None]:
    # huggingface_hub reads HF_HUB_OFFLINE once at import; read the variable again at call time.
    offline = (
        hub_constants.HF_HUB_OFFLINE
        or os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}
        or not hub_reachable()
    )
    saved = hub_constants.HF_HUB_OFFLINE
    hub_constants.HF_HUB_OFFLINE = offline
    try:
        yield
    finally:
        hub_constants.HF_HUB_OFFLINE = saved


def hub_reachable(timeout: float = HUB_PROBE_SECONDS) -> bool:
    """Whether a TCP connection to the hub endpoint (or the configured HTTPS proxy) opens."""
    endpoint = urlparse(hub_constants.ENDPOINT)
    proxy = urllib.request.getproxies().get("https")
    target = endpoint
    if proxy and not urllib.request.proxy_bypass(endpoint.hostname or ""):
        target = urlparse(proxy)
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        with socket.create_connection((target.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def load_encoder_file(encoder: nn.Module, path_text: str, in_channels: int) -> None:
    """Load a local state dict into ``encoder``; any mismatch is a one-line SparsegError.

    A 3-channel first convolution (e.g. ImageNet weights) is adapted to ``in_channels`` the way
    smp and timm adapt hub weights (summed for 1 channel, repeated and rescaled otherwise).
    """
    key = f"model.encoder_weights={path_text}"
    expected = f"imagenet, none, or a {'/'.join(WEIGHT_FILE_SUFFIXES)} encoder state dict"
    raw = read_weight_file(path_text, key, expected)
    load_part(encoder, _encoder_state(raw, key), in_channels, f"{key}: does not fit the encoder")


def read_weight_file(path_text: str, key: str, expected: str) -> Mapping[str, object]:
    """The state dict in a local weights file; its one-line errors start with ``key`` (a missing
    file's says ``expected``: what the key takes)."""
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise SparsegError(f"{key}: file not found (expected {expected})")
    if path.suffix not in WEIGHT_FILE_SUFFIXES:
        raise SparsegError(f"{key}: unsupported file type; use {', '.join(WEIGHT_FILE_SUFFIXES)}")
    return _read_state_dict(path, key)


def load_part(
    module: nn.Module, state: dict[str, torch.Tensor], in_channels: int, failure: str
) -> None:
    """Load ``state`` into ``module`` (a 3-channel first convolution adapted to
    ``in_channels``); any other mismatch is the one-line error ``failure: <what>``."""
    expected = module.state_dict()
    for name, tensor in state.items():
        wanted = expected.get(name)
        if wanted is not None and _is_adaptable_first_conv(tensor, wanted, in_channels):
            state[name] = adapt_input_conv(in_channels, tensor)
    mismatch = _first_mismatch(state, expected)
    if mismatch:
        raise SparsegError(f"{failure}: {mismatch}")
    module.load_state_dict(state, strict=False)  # only num_batches_tracked may be missing


def _read_state_dict(path: Path, key: str) -> Mapping[str, object]:
    try:
        if path.suffix == ".safetensors":
            return safetensors.torch.load_file(str(path), device="cpu")
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch/safetensors raise many types for a corrupt file
        raise SparsegError(f"{key}: not a readable state dict ({type(exc).__name__})") from None
    if not isinstance(loaded, Mapping):
        raise SparsegError(f"{key}: expected a state dict, found {type(loaded).__name__}")
    return loaded


def _encoder_state(raw: Mapping[str, object], key: str) -> dict[str, torch.Tensor]:
    require_tensors(raw, key)
    for prefix in _ENCODER_PREFIXES:
        if any(name.startswith(prefix) for name in raw):
            return {n.removeprefix(prefix): t for n, t in raw.items() if n.startswith(prefix)}
    return dict(raw)  # type: ignore[arg-type]


def require_tensors(raw: Mapping[str, object], key: str) -> None:
    """Refuse a mapping that holds anything but tensors (e.g. a training checkpoint)."""
    non_tensor = next((name for name, value in raw.items() if not torch.is_tensor(value)), None)
    if non_tensor is not None:
        raise SparsegError(f"{key}: entry {non_tensor!r} is not a tensor; expected a state dict")


def _is_adaptable_first_conv(tensor: torch.Tensor, wanted: torch.Tensor, in_channels: int) -> bool:
    return (
        tensor.ndim == 4
        and tensor.shape != wanted.shape
        and tensor.shape[1] == 3
        and wanted.shape[1] == in_channels
        and tensor.shape[0] == wanted.shape[0]
        and tensor.shape[2:] == wanted.shape[2:]
    )


def _first_mismatch(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> str:
    for name, wanted in expected.items():
        if name not in state:
            if not name.endswith("num_batches_tracked"):
                return f"missing key {name}"
        elif state[name].shape != wanted.shape:
            return (
                f"key {name} has shape {tuple(state[name].shape)}, "
                f"the encoder expects {tuple(wanted.shape)}"
            )
    unexpected = next((name for name in state if name not in expected), None)
    return f"unexpected key {unexpected}" if unexpected else ""
