"""Self-supervised pretext tasks for a segmentation network: what it sees, what it must return.

Both tasks ask for an image-sized output, so encoder *and* decoder learn (a contrastive or
classification objective would train the encoder alone):

- ``restoration`` (Models Genesis, Zhou et al. 2021): the input is the image under a random
  intensity curve (gamma), blur, noise and a few cut-out boxes (in-painting); the network
  restores the original; squared error over every pixel.
- ``masked`` (SimMIM, Xie et al. 2022): square patches are hidden (set to 0, the mean of a
  z-scored image); the network fills them in; squared error over the hidden pixels only.

Distortions are kornia's, drawn from torch's global generator, so an epoch seeded by
:func:`sparseg.training.feed.epoch_batches` replays exactly.
"""

from __future__ import annotations

import kornia.augmentation as K
import torch
import torch.nn.functional as F
from torch import nn

from sparseg.config import ModelConfig, PretrainConfig
from sparseg.models import build_model, plain_model

CUTOUT_BOXES = 3  # Models Genesis paints out several small boxes rather than one large one


class Restoration(nn.Module):
    """Distorts each image (scaled to [0, 1] per channel, distorted, scaled back)."""

    def __init__(self) -> None:
        super().__init__()
        self.distort = K.AugmentationSequential(
            K.RandomGamma(gamma=(0.4, 2.5), p=0.8),
            K.RandomGaussianBlur((5, 5), (0.3, 1.5), p=0.3),
            K.RandomGaussianNoise(std=0.05, p=0.3),
            *(
                K.RandomErasing(scale=(0.01, 0.05), ratio=(0.5, 2.0), p=0.8)
                for _ in range(CUTOUT_BOXES)
            ),
        )

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(inputs, loss weights (N, 1, H, W))``: every pixel counts."""
        low = images.amin(dim=(-2, -1), keepdim=True)
        span = (images.amax(dim=(-2, -1), keepdim=True) - low).clamp_min(1e-6)
        distorted = self.distort((images - low) / span).clamp(0.0, 1.0)
        weights = torch.ones_like(images[:, :1])
        return distorted * span + low, weights


class Masking(nn.Module):
    """Hides a ``ratio`` share of ``patch``-pixel squares, drawn per image."""

    def __init__(self, ratio: float, patch: int) -> None:
        super().__init__()
        self.ratio, self.patch = ratio, patch

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(inputs, loss weights (N, 1, H, W))``: 1 on the hidden pixels, 0 elsewhere."""
        count, _, height, width = images.shape
        cells = (-(-height // self.patch), -(-width // self.patch))
        hidden = (torch.rand(count, 1, *cells, device=images.device) < self.ratio).float()
        hidden = F.interpolate(hidden, scale_factor=self.patch, mode="nearest")
        hidden = hidden[..., :height, :width]
        return images * (1.0 - hidden), hidden


def build_pretext(config: PretrainConfig) -> nn.Module:
    """The configured task: ``task(images)`` → ``(inputs, loss weights)``."""
    if config.objective == "masked":
        return Masking(config.mask_ratio, config.mask_patch)
    return Restoration()


def pretext_loss(output: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the weighted pixels (and every channel)."""
    squared = (output.float() - target.float()).pow(2) * weights
    return squared.sum() / (weights.sum() * target.shape[1]).clamp_min(1.0)


def reconstruction_network(config: ModelConfig, in_channels: int) -> nn.Module:
    """The smp network ``train`` builds from ``config``, its output convolution giving back
    ``in_channels`` image channels instead of one mask logit (no training heads)."""
    plain = config.model_copy(update={"deep_supervision": False, "presence_head": False})
    model = plain_model(build_model(plain, in_channels))
    head = model.segmentation_head
    conv = next(index for index, layer in enumerate(head) if isinstance(layer, nn.Conv2d))
    old = head[conv]
    head[conv] = nn.Conv2d(old.in_channels, in_channels, old.kernel_size, padding=old.padding)
    return model
