"""One model, one image → a foreground probability map at the image's native size.

Shared by the predictor and by validation during patch training, so both see the image the
same way the training data set did (resize, then normalise; or normalise the native image and
slide a window of the training patch size).
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F

from sparseg.config import DataConfig
from sparseg.data.dataset import normalize_image, resize_image
from sparseg.inference.sliding_window import sliding_window_probabilities
from sparseg.inference.tta import pad_to_multiple, predict_probabilities

TTA_BATCHING = {"auto": None, "yes": True, "no": False}  # inference.tta_batched → tta.py's flag


def padded_probabilities(
    model: torch.nn.Module, images: torch.Tensor, tta: bool, batched: bool | None = None
) -> torch.Tensor:
    """Probabilities of ``images`` (N, C, H, W) of any size: padded to the encoder stride."""
    padded, (rows, cols) = pad_to_multiple(images, 32)
    return predict_probabilities(model, padded, tta, batched)[..., rows, cols]


def probability_map(
    model: torch.nn.Module,
    image: torch.Tensor,
    data: DataConfig,
    tta: bool = False,
    sliding_window: bool = False,
    overlap: float = 0.5,
    tta_batched: str = "auto",
) -> torch.Tensor:
    """(H, W) probabilities for a unit-float (C, H, W) ``image``.

    Patch-trained models (or ``sliding_window``) see the native image through Gaussian-weighted
    windows of ``data.input_size``; others see it resized to ``data.input_size`` and the map is
    resized back. ``tta_batched`` is ``inference.tta_batched`` (auto: batched on GPUs only).
    """
    batched = TTA_BATCHING[tta_batched]
    native = tuple(image.shape[-2:])
    if sliding_window or data.mode == "patch":
        normalised = normalize_image(image, data.normalize)[None]
        predict = partial(padded_probabilities, model, tta=tta, batched=batched)
        probs = sliding_window_probabilities(predict, normalised, tuple(data.input_size), overlap)
    else:
        resized = normalize_image(resize_image(image, tuple(data.input_size)), data.normalize)
        probs = padded_probabilities(model, resized[None], tta, batched)
        probs = F.interpolate(probs, size=native, mode="bilinear", align_corners=False)
    return probs[0, 0].float()
