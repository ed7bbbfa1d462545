"""``build_loss``: the weighted sum of ``loss.terms``, optionally over deep-supervision outputs,
plus the presence head's BCE on "this image has foreground".

Each term is built by one entry of :data:`LOSS_REGISTRY` from the ``loss`` config section;
adding a loss means one entry here (and its name in ``sparseg.config.LOSS_TERMS``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import segmentation_models_pytorch as smp
import torch
from torch import nn

from sparseg.config import LossConfig
from sparseg.errors import SparsegError
from sparseg.losses.region import DiceLoss, TverskyLoss
from sparseg.models.outputs import split_outputs


def _bce(config: LossConfig, pos_weight: float | None) -> nn.Module:
    weight = None if pos_weight is None else torch.tensor([pos_weight])
    return nn.BCEWithLogitsLoss(pos_weight=weight)


LOSS_REGISTRY: dict[str, Callable[[LossConfig, float | None], nn.Module]] = {
    "dice": lambda config, _: DiceLoss(config.smooth, config.region_reduction),
    "bce": _bce,
    "focal_tversky": lambda config, _: TverskyLoss(
        config.tversky_fn_weight,
        config.tversky_fp_weight,
        config.smooth,
        config.focal_tversky_exponent,
        config.region_reduction,
    ),
    "tversky": lambda config, _: TverskyLoss(
        config.tversky_fn_weight,
        config.tversky_fp_weight,
        config.smooth,
        1.0,
        config.region_reduction,
    ),
    "focal": lambda config, _: smp.losses.FocalLoss(
        "binary", alpha=config.focal_alpha, gamma=config.focal_gamma
    ),
}


class WeightedSumLoss(nn.Module):
    """``Σ weight · term(logits, target)`` over the named terms (weights as configured)."""

    def __init__(self, terms: dict[str, nn.Module], weights: dict[str, float]) -> None:
        super().__init__()
        self.terms = nn.ModuleDict(terms)
        self.weights = dict(weights)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if logits.shape != target.shape:
            raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)}")
        logits = logits.float()  # losses in float32 also under bf16/fp16 autocast
        target = target.to(logits.dtype)
        return sum(self.weights[name] * term(logits, target) for name, term in self.terms.items())


class DeepSupervisionLoss(nn.Module):
    """Weighted mean of ``loss`` over ``[main, aux_1, ...]``; a single tensor gets plain ``loss``.

    Weights are normalised to sum to 1, so the loss keeps the scale of a single output (and
    equals it when all outputs agree), whatever the number of supervised levels.
    """

    def __init__(self, loss: nn.Module, weights: Sequence[float]) -> None:
        super().__init__()
        total = float(sum(weights))
        if total <= 0:
            raise SparsegError(
                f"model.deep_supervision_weights: need a positive sum, got {list(weights)}"
            )
        self.loss = loss
        self.weights = [float(weight) / total for weight in weights]

    def forward(
        self, outputs: torch.Tensor | Sequence[torch.Tensor], target: torch.Tensor
    ) -> torch.Tensor:
        if isinstance(outputs, torch.Tensor):
            return self.loss(outputs, target)
        if len(outputs) != len(self.weights):
            raise ValueError(f"{len(outputs)} outputs for {len(self.weights)} weights")
        return sum(w * self.loss(out, target) for w, out in zip(self.weights, outputs, strict=True))


class PresenceLoss(nn.Module):
    """``segmentation_loss + weight · BCE(presence_logit, image has foreground)`` for outputs
    ``(segmentation, presence_logit (N, 1))``; a target image has foreground when any of its
    pixels is above 0.5."""

    def __init__(self, segmentation_loss: nn.Module, weight: float) -> None:
        super().__init__()
        self.segmentation_loss = segmentation_loss
        self.weight = float(weight)

    def forward(
        self, outputs: tuple[torch.Tensor, torch.Tensor], target: torch.Tensor
    ) -> torch.Tensor:
        segmentation, presence = split_outputs(outputs)
        loss = self.segmentation_loss(segmentation, target)
        if presence is None:
            raise ValueError("the presence loss needs outputs (segmentation, presence_logit)")
        present = (target.flatten(1) > 0.5).any(dim=1, keepdim=True).to(torch.float32)
        bce = nn.functional.binary_cross_entropy_with_logits(presence.float(), present)
        return loss + self.weight * bce


def build_loss(
    config: LossConfig,
    deep_supervision_weights: Sequence[float] | None = None,
    pos_weight: float | None = None,
    presence: bool = False,
) -> nn.Module:
    """The configured loss, called as ``loss(outputs, target)``.

    ``outputs`` are logits ``(N, 1, H, W)``, or with ``deep_supervision_weights`` (output weight
    first, as ``model.deep_supervision_weights``) also a list ``[main, aux_1, ...]``.
    ``pos_weight`` is the number that ``loss.pos_weight: auto`` resolves to (the caller takes
    it from the fingerprint's background:foreground ratio); a number in the config wins.
    ``presence`` (``model.presence_head``): outputs are ``(segmentation, presence_logit)`` and
    the presence BCE is added with weight ``loss.presence_weight``.
    """
    resolved_pos_weight = _resolve_pos_weight(config, pos_weight)
    active = {name: weight for name, weight in config.terms.items() if weight > 0}
    terms = {name: LOSS_REGISTRY[name](config, resolved_pos_weight) for name in active}
    loss: nn.Module = WeightedSumLoss(terms, active)
    if deep_supervision_weights is not None:
        loss = DeepSupervisionLoss(loss, deep_supervision_weights)
    if presence:
        loss = PresenceLoss(loss, config.presence_weight)
    return loss


def _resolve_pos_weight(config: LossConfig, pos_weight: float | None) -> float | None:
    if config.pos_weight != "auto":
        return config.pos_weight
    if pos_weight is None and config.terms.get("bce", 0) > 0:
        raise SparsegError(
            "loss.pos_weight: auto needs the data's background:foreground ratio "
            "(run inspect, or give a number)"
        )
    return pos_weight
