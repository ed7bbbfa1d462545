"""render_augment_preview writes a PNG grid: rows of original + augmented samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sparseg.augment import render_augment_preview


def test_preview_grid_has_one_row_per_sample_and_coloured_contours(tmp_path: Path) -> None:
    torch.manual_seed(0)
    images = torch.randn(6, 1, 32, 32)
    masks = torch.zeros(6, 1, 32, 32)
    masks[:, :, 8:20, 10:24] = 1.0
    calls = []

    def flip(batch_images: torch.Tensor, batch_masks: torch.Tensor):
        calls.append(batch_images.shape[0])
        return batch_images.flip(-1), batch_masks.flip(-1)

    wide = render_augment_preview(images, masks, flip, tmp_path / "wide.png", rows=2)
    tall = render_augment_preview(images, masks, flip, tmp_path / "tall.png", rows=4)

    assert calls == [2] * 5 + [4] * 5
    wide_pixels = np.asarray(Image.open(wide).convert("RGB")).astype(int)
    tall_pixels = np.asarray(Image.open(tall).convert("RGB")).astype(int)
    assert tall_pixels.shape[0] > 1.5 * wide_pixels.shape[0]
    assert tall_pixels.shape[1] == wide_pixels.shape[1]
    red, green, blue = wide_pixels[..., 0], wide_pixels[..., 1], wide_pixels[..., 2]
    assert ((red > 200) & (green < 120) & (blue < 120)).sum() > 100
    assert not list(tmp_path.glob(".*.tmp"))


def test_preview_skips_contours_of_empty_masks(tmp_path: Path) -> None:
    images = torch.randn(2, 1, 32, 32)
    out = render_augment_preview(
        images, torch.zeros(2, 1, 32, 32), lambda i, m: (i, m), tmp_path / "empty.png"
    )
    pixels = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert not ((pixels[..., 0] > 200) & (pixels[..., 1] < 120) & (pixels[..., 2] < 120)).any()
