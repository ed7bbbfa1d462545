"""One model, one image → a foreground probability map at the image's native size.

Shared by the predictor and by validation during patch training, so both see the image the
same way the training data set did (resize, then normalise; or normalise the native image and
slide a window of the training patch size).
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F

from sparseg.config import DataConfig, InferenceConfig
from sparseg.data.dataset import normalize_image, resize_image
from sparseg.inference.sliding_window import sliding_window_probabilities
from sparseg.inference.tta import pad_to_multiple, predict_probabilities
from sparseg.inference.windows import uses_windows

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
    inference: InferenceConfig | None = None,
) -> torch.Tensor:
    """(H, W) probabilities for a unit-float (C, H, W) ``image``.

    Patch-trained models (or ``inference.sliding_window``) see the native image through
    Gaussian-weighted windows of ``data.input_size`` overlapping by ``inference.window_overlap``;
    others see it resized to ``data.input_size`` and the map is resized back. ``inference.tta``
    averages the 8 D4 views, batched as ``inference.tta_batched`` says (auto: on GPUs only).
    Default ``inference``: no TTA, windows only in patch mode.
    """
    cfg = inference or InferenceConfig()
    batched = TTA_BATCHING[cfg.tta_batched]
    native = tuple(image.shape[-2:])
    if uses_windows(data, cfg):
        normalised = normalize_image(image, data.normalize)[None]
        predict = partial(padded_probabilities, model, tta=cfg.tta, batched=batched)
        window = tuple(data.input_size)
        probs = sliding_window_probabilities(predict, normalised, window, cfg.window_overlap)
    else:
        resized = normalize_image(resize_image(image, tuple(data.input_size)), data.normalize)
        probs = padded_probabilities(model, resized[None], cfg.tta, batched)
        probs = F.interpolate(probs, size=native, mode="bilinear", align_corners=False)
    return probs[0, 0].float()
