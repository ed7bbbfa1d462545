from __future__ import annotations

import numpy as np
import pytest
import torch

from sparseg.data.sampling import choose_patch_origin, extract_patch, origin_range


def corner_target() -> np.ndarray:
    """64x64 mask with a 2x2 target at rows/cols 60-61.

    With 16x16 patches, origins run 0..48 per axis and a patch holds the target only when its
    origin is 45..48 on both axes: a random patch hits it with probability (4/49)^2 ≈ 0.0067.
    """
    mask = np.zeros((64, 64), dtype=bool)
    mask[60:62, 60:62] = True
    return mask


def hits(mask: np.ndarray, origin: tuple[int, int], size: tuple[int, int]) -> bool:
    patch = extract_patch(torch.from_numpy(mask)[None], origin, size)
    return bool(patch.any())


def test_origin_range():
    assert origin_range(64, 16) == (0, 48)
    assert origin_range(10, 16) == (-6, 0)
    assert origin_range(16, 16) == (0, 0)


def test_centred_patch_is_centred_on_the_pixel_away_from_borders():
    mask = np.zeros((64, 64), dtype=bool)
    mask[32, 40] = True
    origin = choose_patch_origin(mask, (16, 16), True, np.random.default_rng(0))
    assert origin == (24, 32)


def test_centred_patch_near_the_border_is_shifted_inside_and_keeps_the_pixel():
    rng = np.random.default_rng(0)
    mask = corner_target()
    for _ in range(50):
        origin = choose_patch_origin(mask, (16, 16), True, rng)
        assert 0 <= origin[0] <= 48 and 0 <= origin[1] <= 48
        assert hits(mask, origin, (16, 16))


def test_random_origins_cover_the_whole_range_uniformly():
    rng = np.random.default_rng(0)
    mask = np.zeros((20, 30), dtype=bool)
    origins = np.array([choose_patch_origin(mask, (16, 16), False, rng) for _ in range(2000)])
    assert origins[:, 0].min() == 0 and origins[:, 0].max() == 4
    assert origins[:, 1].min() == 0 and origins[:, 1].max() == 14
    assert abs(origins[:, 1].mean() - 7.0) < 0.3


def test_no_foreground_falls_back_to_a_random_patch():
    rng = np.random.default_rng(0)
    mask = np.zeros((64, 64), dtype=bool)
    origins = {choose_patch_origin(mask, (16, 16), True, rng) for _ in range(20)}
    assert len(origins) > 1


def test_image_smaller_than_patch_lies_inside_it():
    rng = np.random.default_rng(0)
    mask = np.ones((10, 12), dtype=bool)
    for centre in (True, False):
        for _ in range(20):
            y, x = choose_patch_origin(mask, (16, 16), centre, rng)
            assert -6 <= y <= 0 and -4 <= x <= 0
            assert extract_patch(torch.from_numpy(mask)[None], (y, x), (16, 16)).sum() == 120


@pytest.mark.parametrize(
    ("oversample", "expected"),
    [(0.0, 0.0067), (0.33, 0.33 + 0.67 * 0.0067), (1.0, 1.0)],
)
def test_share_of_patches_with_foreground(oversample, expected):
    rng = np.random.default_rng(1)
    mask = corner_target()
    share = np.mean(
        [
            hits(
                mask, choose_patch_origin(mask, (16, 16), rng.random() < oversample, rng), (16, 16)
            )
            for _ in range(1000)
        ]
    )
    assert abs(share - expected) < 0.045


def test_extract_patch_pads_with_zero():
    image = torch.arange(1, 10, dtype=torch.float32).reshape(1, 3, 3)
    patch = extract_patch(image, (-1, 1), (3, 3))
    expected = torch.tensor([[[0, 0, 0], [2, 3, 0], [5, 6, 0]]], dtype=torch.float32)
    torch.testing.assert_close(patch, expected)
