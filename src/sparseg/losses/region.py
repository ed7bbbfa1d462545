"""Soft Dice and (focal) Tversky losses, per image or pooled over the batch.

smp's DiceLoss/TverskyLoss pool over the batch and zero the loss of a batch without foreground,
which leaves false positives on empty images unpunished (no gradient). These keep smp's score
(``soft_tversky_score``) but not that zeroing, and add per-image reduction:

    TI = (TP + smooth) / (TP + fn_weight·FN + fp_weight·FP + smooth)
    loss = mean over images of (1 − TI) ** exponent          (region_reduction = per_image)
    loss = (1 − TI over the whole batch) ** exponent         (region_reduction = batch)

An empty image predicted empty scores TI = 1 (loss ≈ 0) through ``smooth``; an empty image with
false positives has TI = smooth / (fp_weight·FP + smooth) < 1 and a gradient that pushes FP
down. With ``smooth = 0`` such images score TI = 0 (loss 1, no gradient): keep ``smooth > 0``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from segmentation_models_pytorch.losses._functional import soft_tversky_score
from torch import nn

Reduction = Literal["per_image", "batch"]
# (1 − TI) ** exponent has an infinite slope at 0 when exponent < 1; the floor keeps it finite.
_BASE_FLOOR = 1e-6


class TverskyLoss(nn.Module):
    """``(1 − TI) ** exponent`` on sigmoid probabilities of binary logits ``(N, 1, H, W)``.

    ``exponent`` is the power applied to ``1 − TI`` itself: Abraham & Khan's focal Tversky with
    their γ = 4/3, written ``(1 − TI) ** (1/γ)``, is ``exponent = 0.75``; 1 is plain Tversky.
    """

    def __init__(
        self,
        fn_weight: float,
        fp_weight: float,
        smooth: float,
        exponent: float = 1.0,
        reduction: Reduction = "per_image",
    ) -> None:
        super().__init__()
        self.fn_weight = fn_weight
        self.fp_weight = fp_weight
        self.smooth = smooth
        self.exponent = exponent
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        probabilities = F.logsigmoid(logits.float()).exp()
        target = target.to(probabilities.dtype)
        if self.reduction == "per_image":
            probabilities = probabilities.reshape(probabilities.shape[0], -1)
            target = target.reshape(target.shape[0], -1)
            dims = (1,)
        else:
            dims = None
        # smp names the weights the other way round: alpha weighs FP, beta weighs FN.
        score = soft_tversky_score(
            probabilities, target, self.fp_weight, self.fn_weight, self.smooth, dims=dims
        )
        loss = 1.0 - score
        if self.exponent != 1.0:
            loss = loss.clamp_min(_BASE_FLOOR) ** self.exponent
        return loss.mean()


class DiceLoss(TverskyLoss):
    """Soft Dice loss ``1 − (2·TP + smooth) / (2·TP + FP + FN + smooth)``."""

    def __init__(self, smooth: float, reduction: Reduction = "per_image") -> None:
        # Tversky with FN and FP weighted 1/2 is Dice; halving smooth gives the usual form above.
        super().__init__(0.5, 0.5, smooth / 2, exponent=1.0, reduction=reduction)
