"""Grid distortion on grid_sample, and per-batch multi-scale resizing."""

from __future__ import annotations

import math

import pytest
import torch
from kornia.filters import gaussian_blur2d

from sparseg.augment import MultiScale, grid_distortion, random_scale_size, resize_batch
from sparseg.augment.geometric import RandomGridDistortion, _gaussian_band, scaled_size
from sparseg.config import MultiScaleConfig


def column_ramp(n: int, height: int, width: int) -> torch.Tensor:
    return torch.arange(width * 1.0).expand(n, 1, height, width).clone()


def test_grid_distortion_matches_hand_computed_source_columns() -> None:
    # Two output cells over 5 columns; source cells of relative widths 0.5 and 1.5 → edges at
    # columns 0, 1, 4; output columns 0, 0.5, 1, 1.5, 2 (in cells) sample 0, 0.5, 1, 2.5, 4.
    images = column_ramp(1, 3, 5)
    warped = grid_distortion(images, torch.tensor([[0.5, 1.5]]), torch.ones(1, 2))
    expected = torch.tensor([0.0, 0.5, 1.0, 2.5, 4.0]).expand(1, 1, 3, 5)
    assert torch.allclose(warped, expected, atol=1e-5)


def test_grid_distortion_moves_rows_with_steps_y() -> None:
    images = column_ramp(1, 5, 5).transpose(-1, -2)
    warped = grid_distortion(images, torch.ones(1, 2), torch.tensor([[1.5, 0.5]]))
    expected = torch.tensor([0.0, 1.5, 3.0, 3.5, 4.0])[:, None].expand(1, 1, 5, 5)
    assert torch.allclose(warped, expected, atol=1e-5)


def test_grid_distortion_with_unit_steps_is_the_identity() -> None:
    images = torch.randn(2, 3, 17, 23)
    masks = (images[:, :1] > 0).float()
    steps_x, steps_y = torch.ones(2, 4), torch.ones(2, 4)
    assert torch.allclose(grid_distortion(images, steps_x, steps_y), images, atol=1e-5)
    assert torch.equal(grid_distortion(masks, steps_x, steps_y, mode="nearest"), masks)


def test_zero_distort_limit_is_the_identity() -> None:
    images = torch.randn(4, 1, 32, 32)
    torch.manual_seed(0)
    warped = RandomGridDistortion(num_steps=5, distort_limit=0.0, p=1.0)(images)
    assert torch.allclose(warped, images, atol=1e-5)


@pytest.mark.parametrize("num_steps", [2, 4])
def test_distortion_is_linear_inside_each_of_num_steps_cells(num_steps: int) -> None:
    width = 65
    images = column_ramp(4, 8, width)
    torch.manual_seed(0)
    warped = RandomGridDistortion(num_steps=num_steps, distort_limit=0.5, p=1.0)(images)
    source_columns = warped[:, 0, 0]
    bends = (source_columns.diff(n=2, dim=1).abs() > 1e-3).any(dim=0).nonzero().flatten() + 1
    knots = [cell * (width - 1) // num_steps for cell in range(1, num_steps)]
    assert bends.tolist() == knots
    # The map depends on the column only: every row samples the same source columns.
    assert torch.allclose(warped, source_columns[:, None, None, :].expand_as(warped))


def test_grid_distortion_keeps_the_borders_in_place() -> None:
    images = column_ramp(6, 4, 40)
    torch.manual_seed(0)
    warped = RandomGridDistortion(num_steps=3, distort_limit=0.6, p=1.0)(images)
    assert torch.allclose(warped[..., 0], images[..., 0], atol=1e-4)
    assert torch.allclose(warped[..., -1], images[..., -1], atol=1e-4)


def test_scale_size_is_rounded_to_multiple_of() -> None:
    assert random_scale_size((64, 48), MultiScaleConfig(scales=(2.0, 2.0), multiple_of=16)) == (
        128,
        96,
    )
    # 128 / 24 = 5.33 → 5 · 24 = 120; 96 / 24 = 4 → 96.
    assert random_scale_size((64, 48), MultiScaleConfig(scales=(2.0, 2.0), multiple_of=24)) == (
        120,
        96,
    )
    # Never below one multiple.
    assert random_scale_size((16, 16), MultiScaleConfig(scales=(0.1, 0.1), multiple_of=8)) == (8, 8)


def test_scale_sizes_cover_the_configured_range() -> None:
    config = MultiScaleConfig(enabled=True, scales=(0.5, 1.5), multiple_of=8)
    generator = torch.Generator().manual_seed(0)
    sizes = {random_scale_size((64, 64), config, generator) for _ in range(200)}
    assert all(
        height == width and height % 8 == 0 and 32 <= height <= 96 for height, width in sizes
    )
    assert len(sizes) >= 8


def test_multiscale_resizes_the_batch_and_keeps_masks_aligned_and_binary() -> None:
    rows, columns = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    masks = (((columns - 20) / 12) ** 2 + ((rows - 40) / 7) ** 2 < 1).float()[None, None]
    masks = masks.repeat(2, 1, 1, 1)
    images = 2 * masks + 0.3 * columns / 63
    multiscale = MultiScale(MultiScaleConfig(enabled=True, scales=(0.5, 1.5), multiple_of=8))
    shapes = set()
    for seed in range(6):
        torch.manual_seed(seed)
        resized, resized_masks = multiscale(images, masks)
        shapes.add(tuple(resized.shape))
        assert resized.shape[-2:] == resized_masks.shape[-2:]
        assert set(resized_masks.unique().tolist()) <= {0.0, 1.0}
        mismatch = ((resized > 1.15).float() != resized_masks).float().mean()
        assert mismatch < 0.01
    assert len(shapes) > 1


def test_disabled_multiscale_returns_the_batch_unchanged() -> None:
    images, masks = torch.randn(2, 1, 40, 40), torch.zeros(2, 1, 40, 40)
    resized, resized_masks = MultiScale(MultiScaleConfig(enabled=False, scales=(2.0, 2.0)))(
        images, masks
    )
    assert resized is images and resized_masks is masks


def test_resize_batch_downsamples_masks_by_majority() -> None:
    masks = torch.tensor([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]]).expand(1, 1, 2, 4)
    _, resized_masks = resize_batch(masks.clone(), masks.clone(), (1, 2))
    assert resized_masks.flatten().tolist() == [1.0, 0.0]


@pytest.mark.parametrize("sigma", [0.7, 3.0, 6.0])
def test_elastic_field_smoothing_equals_kornias_zero_border_gaussian_blur(sigma: float) -> None:
    noise = torch.rand(3, 2, 40, 56, generator=torch.Generator().manual_seed(0)) * 2 - 1
    kernel = 2 * math.ceil(4 * sigma) + 1
    expected = gaussian_blur2d(noise, (kernel, kernel), (sigma, sigma), border_type="constant")
    smoothed = _gaussian_band(40, sigma, noise) @ noise @ _gaussian_band(56, sigma, noise).T
    assert torch.allclose(smoothed, expected, atol=1e-6)


@pytest.mark.parametrize("size", [(24, 24), (17, 40), (96, 80)])
def test_multiscale_resizes_masks_by_the_data_sets_rule(size) -> None:
    from sparseg.data.dataset import resize_mask
    from sparseg.data.preprocess import resize_image

    generator = torch.Generator().manual_seed(0)
    masks = (torch.rand(3, 1, 48, 48, generator=generator) > 0.8).float()
    images = torch.rand(3, 2, 48, 48, generator=generator)
    resized_images, resized_masks = resize_batch(images, masks, size)
    for index in range(3):
        assert torch.equal(resized_masks[index], resize_mask(masks[index], size))
        assert torch.allclose(resized_images[index], resize_image(images[index], size), atol=1e-6)


def test_progressive_sizes_keep_the_aspect_in_multiples_of_32_never_below_32() -> None:
    assert scaled_size((192, 256), 0.5) == (96, 128)
    assert scaled_size((128, 128), 0.6) == (64, 64)  # 76.8 rounds to 64
    assert scaled_size((64, 96), 0.25) == (32, 32)  # never below one stride
    images, masks = torch.rand(2, 1, 192, 256), torch.zeros(2, 1, 192, 256)
    resized, resized_masks = MultiScale(MultiScaleConfig(enabled=False))(images, masks, 0.5)
    assert resized.shape == (2, 1, 96, 128) and resized_masks.shape == (2, 1, 96, 128)
