"""One model, one image → a foreground probability map at the image's native size (and the
presence head's probability, when the model has one).

Shared by the predictor and by validation during patch training, so both see the image the
same way the training data set did (resize, then normalise; or normalise the native image and
slide a window of the training patch size).
"""

from __future__ import annotations

import torch

from sparseg.config import DataConfig, InferenceConfig
from sparseg.data.preprocess import normalize_image, pad_to_multiple, resize_image
from sparseg.inference.tta import predict_with_presence
from sparseg.inference.windows import sliding_window, uses_windows

TTA_BATCHING = {"auto": None, "yes": True, "no": False}  # inference.tta_batched → tta.py's flag


def padded_prediction(
    model: torch.nn.Module, images: torch.Tensor, tta: bool, batched: bool | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Probabilities of ``images`` (N, C, H, W) of any size (padded to the encoder stride), and
    the presence probabilities (N, 1) of a model with a presence head (else None)."""
    padded, (rows, cols) = pad_to_multiple(images, 32)
    probabilities, presence = predict_with_presence(model, padded, tta, batched)
    return probabilities[..., rows, cols], presence


def grid_prediction(
    model: torch.nn.Module,
    image: torch.Tensor,
    data: DataConfig,
    inference: InferenceConfig | None = None,
) -> tuple[torch.Tensor, float | None]:
    """(h, w) probabilities on the model's grid for a unit-float (C, H, W) ``image``, and the
    presence head's probability that the image has foreground (None without a head).

    Patch-trained models (or ``inference.sliding_window``) see the native image through
    Gaussian-weighted windows of ``data.input_size`` overlapping by ``inference.window_overlap``
    (the grid is the native size; the image's presence is the largest of its windows':
    foreground anywhere is foreground); others see it resized to ``data.input_size``, the grid.
    ``inference.tta`` averages the 8 D4 views, batched as ``inference.tta_batched`` says (auto:
    on GPUs only). Default ``inference``: no TTA, windows only in patch mode.
    """
    cfg = inference or InferenceConfig()
    batched = TTA_BATCHING[cfg.tta_batched]
    if uses_windows(data, cfg):
        normalised = normalize_image(image, data.normalize)[None]
        presences: list[torch.Tensor] = []

        def predict(tiles: torch.Tensor) -> torch.Tensor:
            probabilities, presence = padded_prediction(model, tiles, cfg.tta, batched)
            if presence is not None:
                presences.append(presence.max())
            return probabilities

        window = tuple(data.input_size)
        probs = sliding_window(predict, normalised, window, cfg.window_overlap)
        presence = float(torch.stack(presences).max()) if presences else None
    else:
        resized = normalize_image(resize_image(image, tuple(data.input_size)), data.normalize)
        probs, head = padded_prediction(model, resized[None], cfg.tta, batched)
        presence = None if head is None else float(head[0, 0])
    return probs[0, 0].float(), presence


def predict_image(
    model: torch.nn.Module,
    image: torch.Tensor,
    data: DataConfig,
    inference: InferenceConfig | None = None,
) -> tuple[torch.Tensor, float | None]:
    """:func:`grid_prediction` at the image's native size (H, W)."""
    grid, presence = grid_prediction(model, image, data, inference)
    return resize_image(grid, image.shape[-2:]), presence


def probability_map(
    model: torch.nn.Module,
    image: torch.Tensor,
    data: DataConfig,
    inference: InferenceConfig | None = None,
) -> torch.Tensor:
    """The (H, W) probabilities of :func:`predict_image` alone."""
    return predict_image(model, image, data, inference)[0]
