import math

import numpy as np
import pytest
from PIL import Image

from sparseg.data.discovery import discover_items
from sparseg.data.foreground import (
    POS_WEIGHT_RANGE,
    count_foreground,
    pos_weight_from_counts,
    prior_logit,
)


@pytest.mark.parametrize(
    ("foreground", "total", "expected"),
    [(1, 11, 10.0), (3, 10, 2.3), (1, 100_000, POS_WEIGHT_RANGE[1]), (9, 10, POS_WEIGHT_RANGE[0])],
)
def test_the_weight_is_the_clipped_background_ratio_to_one_decimal(
    foreground, total, expected
) -> None:
    assert pos_weight_from_counts(foreground, total) == expected


def test_no_foreground_leaves_bce_unweighted() -> None:
    assert pos_weight_from_counts(0, 1000) is None


def test_counts_cover_every_mask_pixel_and_every_image_with_foreground(tmp_path) -> None:
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    masks = {"a": np.zeros((8, 8), np.uint8), "b": np.zeros((8, 8), np.uint8)}
    masks["b"][2:4, 2:5] = 255
    for name, mask in masks.items():
        Image.fromarray(np.full((8, 8), 90, np.uint8)).save(tmp_path / "images" / f"{name}.png")
        Image.fromarray(mask).save(tmp_path / "masks" / f"{name}.png")
    counts = count_foreground(discover_items(tmp_path), None)
    assert (counts.foreground_pixels, counts.pixels) == (6, 128)
    assert (counts.images_with_foreground, counts.images) == (1, 2)
    assert counts.pixel_share == 6 / 128 and counts.image_share == 0.5
    assert pos_weight_from_counts(counts.foreground_pixels, counts.pixels) == 20.3


def test_the_prior_logit_starts_a_head_at_the_share_and_stays_finite() -> None:
    assert 1 / (1 + math.exp(-prior_logit(0.03))) == pytest.approx(0.03)
    assert prior_logit(0.5) == 0.0
    assert math.isfinite(prior_logit(0.0)) and math.isfinite(prior_logit(1.0))
    assert prior_logit(0.0) < prior_logit(0.001)
