"""A PNG grid of original and augmented samples with mask contours, for a person to look at."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor
from torch.utils.data import default_collate

from sparseg.augment.pipeline import build_augmentation
from sparseg.config import Config
from sparseg.data.dataset import SegDataset
from sparseg.data.discovery import discover_items
from sparseg.data.items import read_item_mask
from sparseg.data.volumes import Slicing
from sparseg.io_utils import atomic_write, ensure_output_file

CONTOUR_COLOUR = "#ff3b30"


def augment_preview(config: Config, data_root: Path, out_png: Path, n: int = 4) -> Path:
    """``sparseg augment-preview``: :func:`render_augment_preview` of :func:`preview_batch` with
    the configured augmentation, seeded by ``config.seed``; refuses to write into the data."""
    ensure_output_file(out_png, (".png",), data_root)
    images, masks = preview_batch(config, data_root, n)
    torch.manual_seed(config.seed)
    augment = build_augmentation(config.augment)
    return render_augment_preview(images, masks, augment, out_png, rows=images.shape[0])


def preview_batch(config: Config, data_root: Path, n: int) -> tuple[Tensor, Tensor]:
    """Up to ``n`` samples ``(N, C, H, W)`` and masks ``(N, 1, H, W)`` read as training reads them
    (input size, normalisation, ``data.label``), the first ``n`` with foreground when any."""
    data = config.data
    items = discover_items(Path(data_root), slicing=Slicing.of(data))
    foreground = (
        item for item in items if item.mask is not None and read_item_mask(item, data.label).any()
    )
    chosen = list(itertools.islice(foreground, n)) or items[:n]
    dataset = SegDataset(chosen, data.input_size, data.normalize, label=data.label)
    batch = default_collate([dataset[index] for index in range(len(dataset))])
    return batch["image"], batch["mask"]


def render_augment_preview(
    images: Tensor,
    masks: Tensor,
    aug: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]],
    out_png: Path,
    rows: int = 4,
    augmented_per_sample: int = 5,
) -> Path:
    """Write a grid to ``out_png``: one row per sample (the first ``rows`` of the batch), the
    original in the first column and ``augmented_per_sample`` independent augmentations after it.

    Each row is drawn on the original's intensity range, so brightness and contrast changes show;
    the mask outline is drawn in colour on every panel.
    """
    rows = min(rows, images.shape[0])
    images, masks = images[:rows], masks[:rows]
    columns = [(images, masks)] + [aug(images, masks) for _ in range(augmented_per_sample)]

    figure = Figure(figsize=(1.6 * len(columns), 1.6 * rows), layout="constrained")
    axes = figure.subplots(rows, len(columns), squeeze=False)
    for row in range(rows):
        low, high = images[row, 0].min().item(), images[row, 0].max().item()
        for column, (batch_images, batch_masks) in enumerate(columns):
            _draw_panel(axes[row, column], batch_images[row, 0], batch_masks[row, 0], low, high)
            if row == 0:
                title = "original" if column == 0 else f"augmented {column}"
                axes[row, column].set_title(title, fontsize=8)
    atomic_write(Path(out_png), lambda tmp: figure.savefig(tmp, format="png", dpi=100))
    return Path(out_png)


def _draw_panel(axis: Axes, image: Tensor, mask: Tensor, low: float, high: float) -> None:
    axis.imshow(_numpy(image), cmap="gray", vmin=low, vmax=max(high, low + 1e-6))
    mask_array = _numpy(mask)
    # A constant mask has no 0.5 level; matplotlib would warn.
    if mask_array.min() < 0.5 < mask_array.max():
        axis.contour(mask_array, levels=[0.5], colors=CONTOUR_COLOUR, linewidths=1.0)
    axis.set_xticks([])
    axis.set_yticks([])


def _numpy(tensor: Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float32).numpy()
