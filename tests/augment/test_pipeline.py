"""build_augmentation: every key acts, geometry keeps masks aligned, intensity spares masks."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from sparseg.augment import GEOMETRIC, INTENSITY, build_augmentation
from sparseg.config import AugmentConfig, load_config

ALL_TRANSFORMS = [*GEOMETRIC, *INTENSITY]
SIZE = 64
# Blur with sigma near the default's lower end (0.1) changes pixels by less than 1e-6.
VISIBLE = {"gaussian_blur": {"sigma": (0.5, 1.0)}}


def only(name: str, p: float = 1.0, **params: Any):
    """A pipeline with the single transform ``name`` (every other probability 0)."""
    settings: dict[str, Any] = {key: {"p": 0.0} for key in ALL_TRANSFORMS}
    settings[name] = {"p": p, **params}
    return build_augmentation(AugmentConfig.model_validate(settings))


def coordinates(size: int = SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    rows, columns = torch.meshgrid(
        torch.arange(size * 1.0), torch.arange(size * 1.0), indexing="ij"
    )
    return rows, columns


def l_shaped_batch(n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """An off-centre L (asymmetric under flips and rotations); image = 3·(mask + gradient) - 1."""
    rows, columns = coordinates()
    upright = (columns > 10) & (columns < 28) & (rows > 8) & (rows < 50)
    foot = (columns >= 28) & (columns < 48) & (rows > 36) & (rows < 50)
    mask = (upright | foot).float()[None, None].repeat(n, 1, 1, 1)
    image = 3 * (mask + 0.25 * columns / (SIZE - 1)) - 1
    return image, mask


def textured_batch(n: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    image = torch.randn(n, 1, SIZE, SIZE, generator=generator) * 2 + 1
    mask = (torch.rand(n, 1, SIZE, SIZE, generator=generator) > 0.8).float()
    return image, mask


def changed_per_sample(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    if before.shape != after.shape:
        return torch.ones(before.shape[0], dtype=torch.bool)
    return (before - after).abs().flatten(1).amax(dim=1) > 1e-6


def unit_range(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    low = images.amin(dim=(1, 2, 3), keepdim=True)
    return low, images.amax(dim=(1, 2, 3), keepdim=True) - low


def test_registry_covers_every_transform_key_of_the_config() -> None:
    transform_keys = set(AugmentConfig.model_fields) - {"enabled", "multiscale"}
    assert set(ALL_TRANSFORMS) == transform_keys


@pytest.mark.parametrize("name", ALL_TRANSFORMS)
def test_each_transform_with_p1_changes_every_sample_and_with_p0_is_absent(name: str) -> None:
    images, masks = l_shaped_batch()
    torch.manual_seed(0)
    augmented, _ = only(name, p=1.0, **VISIBLE.get(name, {}))(images, masks)
    assert changed_per_sample(images, augmented).all()

    absent = only(name, p=0.0)
    assert absent.names == []
    same_images, same_masks = absent(images, masks)
    assert torch.equal(same_images, images) and torch.equal(same_masks, masks)


@pytest.mark.parametrize("name", ALL_TRANSFORMS)
def test_probability_half_changes_about_half_of_the_samples(name: str) -> None:
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(96, 1, 32, 32, generator=generator) + torch.linspace(0, 1, 32)
    masks = (images > 1.2).float()
    torch.manual_seed(0)
    augmented, _ = only(name, p=0.5, **VISIBLE.get(name, {}))(images, masks)
    share = changed_per_sample(images, augmented).float().mean().item()
    assert 0.3 < share < 0.7


@pytest.mark.parametrize("name", list(INTENSITY))
def test_intensity_transforms_leave_masks_untouched(name: str) -> None:
    images, masks = textured_batch()
    torch.manual_seed(0)
    _, augmented_masks = only(name)(images, masks)
    assert torch.equal(augmented_masks, masks)


@pytest.mark.parametrize(
    ("name", "params"),
    [(name, {}) for name in GEOMETRIC] + [("rotate", {"limit": 90.0})],
)
def test_geometric_transforms_keep_image_and_mask_aligned(name: str, params: dict) -> None:
    images, masks = l_shaped_batch()
    torch.manual_seed(0)
    augmented, augmented_masks = only(name, **params)(images, masks)
    assert set(augmented_masks.unique().tolist()) <= {0.0, 1.0}
    # Foreground pixels of the image are >= 2, background <= -0.25: threshold in between.
    from_image = (augmented > 0.875).float()
    overlap = (from_image * augmented_masks).sum() / ((from_image + augmented_masks) > 0).sum()
    assert overlap > 0.95
    # A one-pixel shift of the L would disagree on ~4 % of the pixels.
    assert (from_image != augmented_masks).float().mean() < 0.01


def test_flips_equal_torch_flip_on_image_and_mask() -> None:
    images, masks = l_shaped_batch(2)
    for name, dims in (("hflip", [-1]), ("vflip", [-2])):
        augmented, augmented_masks = only(name)(images, masks)
        assert torch.equal(augmented, images.flip(dims))
        assert torch.equal(augmented_masks, masks.flip(dims))


def blob_batch(n: int = 8, offset: float = 16.0, radius: float = 6.0):
    """A disc ``offset`` pixels right of the image centre (the centre of rotation)."""
    rows, columns = coordinates()
    centre = (SIZE - 1) / 2
    disc = ((columns - centre - offset) ** 2 + (rows - centre) ** 2 < radius**2).float()
    masks = disc[None, None].repeat(n, 1, 1, 1)
    return masks * 2 - 1, masks


def centroids(masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample (x, y) of the mask centroid relative to the image centre."""
    rows, columns = coordinates(masks.shape[-1])
    area = masks.sum(dim=(1, 2, 3))
    centre = (masks.shape[-1] - 1) / 2
    x = (masks[:, 0] * columns).sum(dim=(1, 2)) / area - centre
    y = (masks[:, 0] * rows).sum(dim=(1, 2)) / area - centre
    return x, y


def rotation_degrees(masks: torch.Tensor) -> torch.Tensor:
    x, y = centroids(masks)
    return torch.rad2deg(torch.atan2(y, x))


@pytest.mark.parametrize(
    ("name", "key"), [("rotate", "limit"), ("shift_scale_rotate", "rotate_limit")]
)
def test_rotation_angles_stay_within_the_limit(name: str, key: str) -> None:
    images, masks = blob_batch(n=32)
    torch.manual_seed(0)
    zero = {key: 0.0, "shift_limit": 0.0, "scale_limit": 0.0} if name != "rotate" else {key: 0.0}
    unchanged, unchanged_masks = only(name, **zero)(images, masks)
    assert torch.allclose(unchanged, images, atol=1e-5) and torch.equal(unchanged_masks, masks)

    _, rotated = only(name, **{**zero, key: 30.0})(images, masks)
    angles = rotation_degrees(rotated).abs()
    assert angles.max() <= 30.0 + 2.0
    assert angles.max() > 15.0


def test_shift_limit_moves_the_object_by_at_most_the_limit() -> None:
    images, masks = blob_batch(n=32, offset=0.0)
    torch.manual_seed(0)
    _, shifted = only("shift_scale_rotate", shift_limit=0.2, scale_limit=0.0)(images, masks)
    x, y = centroids(shifted)
    limit = 0.2 * SIZE + 1.0
    assert x.abs().max() <= limit and y.abs().max() <= limit
    assert max(x.abs().max(), y.abs().max()) > 0.5 * limit
    assert torch.allclose(shifted.sum(dim=(1, 2, 3)), masks.sum(dim=(1, 2, 3)), rtol=0.1)


def test_scale_limit_changes_the_area_within_the_squared_limits() -> None:
    images, masks = blob_batch(n=32, offset=0.0, radius=10.0)
    torch.manual_seed(0)
    _, scaled = only("shift_scale_rotate", shift_limit=0.0, scale_limit=0.3)(images, masks)
    ratio = scaled.sum(dim=(1, 2, 3)) / masks.sum(dim=(1, 2, 3))
    assert ratio.min() >= 0.7**2 * 0.9 and ratio.max() <= 1.3**2 * 1.1
    assert (ratio - 1).abs().max() > 0.2
    x, y = centroids(scaled)
    assert x.abs().max() < 1.0 and y.abs().max() < 1.0


def test_gaussian_noise_std_is_relative_to_each_images_range() -> None:
    images, masks = textured_batch()
    images = images * torch.arange(1.0, 9.0).view(8, 1, 1, 1)
    torch.manual_seed(0)
    augmented, _ = only("gaussian_noise", std=0.05)(images, masks)
    _, span = unit_range(images)
    noise = (augmented - images) / span
    assert noise.flatten(1).std(dim=1).sub(0.05).abs().max() < 0.005
    assert noise.mean().abs() < 0.005


@pytest.mark.parametrize(("kernel", "sigma"), [(3, 0.8), (5, 1.5)])
def test_gaussian_blur_of_an_impulse_is_the_configured_kernel(kernel: int, sigma: float) -> None:
    images = torch.zeros(2, 1, 16, 16)
    images[:, :, 8, 8] = 1.0
    augmented, _ = only("gaussian_blur", kernel=kernel, sigma=(sigma, sigma))(
        images, torch.zeros_like(images)
    )
    offsets = torch.arange(kernel) - kernel // 2
    weights = torch.exp(-(offsets**2) / (2 * sigma**2))
    weights = weights / weights.sum()
    expected = torch.zeros(16, 16)
    half = kernel // 2
    expected[8 - half : 8 + half + 1, 8 - half : 8 + half + 1] = torch.outer(weights, weights)
    assert torch.allclose(augmented[:, 0], expected.expand(2, 16, 16), atol=1e-6)


def clahe_change(**params: float) -> torch.Tensor:
    rows, columns = coordinates()
    disc = ((columns - 32) ** 2 + (rows - 32) ** 2 < 200).float()
    images = (0.3 * disc + columns / 640)[None, None].repeat(2, 1, 1, 1) * 4 - 2
    torch.manual_seed(0)
    augmented, _ = only("clahe", **params)(images, torch.zeros_like(images))
    low, span = unit_range(images)
    assert augmented.min() >= low.min() - 1e-5 and augmented.max() <= (low + span).max() + 1e-5
    return augmented


def test_clahe_clip_limit_and_tiles_change_the_result() -> None:
    mild = clahe_change(clip_limit=1.0, tiles=2)
    strong = clahe_change(clip_limit=40.0, tiles=2)
    one_tile = clahe_change(clip_limit=40.0, tiles=1)
    assert not torch.allclose(strong, one_tile, atol=1e-3)
    assert not torch.allclose(mild, strong, atol=1e-3)


def test_brightness_shifts_each_image_by_at_most_the_limit_of_its_range() -> None:
    images, masks = textured_batch(32)
    torch.manual_seed(0)
    augmented, _ = only("brightness_contrast", brightness_limit=0.3, contrast_limit=0.0)(
        images, masks
    )
    low, span = unit_range(images)
    before, after = (images - low) / span, (augmented - low) / span
    inside = (after > 1e-4) & (after < 1 - 1e-4)
    for sample in range(32):
        shift = (after - before)[sample][inside[sample]]
        assert shift.max() - shift.min() < 1e-4
        assert shift.abs().max() <= 0.3 + 1e-4
    assert (after - before).abs().max() > 0.15


def test_contrast_scales_each_image_by_a_factor_within_the_limit() -> None:
    images, masks = textured_batch(32)
    torch.manual_seed(0)
    augmented, _ = only("brightness_contrast", brightness_limit=0.0, contrast_limit=0.3)(
        images, masks
    )
    low, span = unit_range(images)
    before, after = (images - low) / span, (augmented - low) / span
    inside = (before > 0.05) & (after < 1 - 1e-4)
    factors = torch.stack([(after / before)[s][inside[s]].median() for s in range(32)])
    for sample in range(32):
        ratio = (after / before)[sample][inside[sample]]
        assert torch.allclose(ratio, factors[sample].expand_as(ratio), atol=1e-3)
    assert factors.min() >= 0.7 - 1e-4 and factors.max() <= 1.3 + 1e-4
    assert (factors - 1).abs().max() > 0.15


def test_disabled_augmentation_is_the_identity() -> None:
    settings = {key: {"p": 1.0} for key in ALL_TRANSFORMS}
    aug = build_augmentation(AugmentConfig.model_validate({**settings, "enabled": False}))
    images, masks = textured_batch()
    assert aug.names == []
    out_images, out_masks = aug(images, masks)
    assert torch.equal(out_images, images) and torch.equal(out_masks, masks)


def test_recipe_pipeline_is_reproducible_from_the_torch_seed() -> None:
    config = load_config("configs/recipe.yaml").augment
    aug = build_augmentation(config)
    chosen = [name for name in ALL_TRANSFORMS if getattr(config, name).p > 0]
    assert aug.names == [*chosen, "multiscale"] and len(chosen) == 10  # the field guide's ten
    images, masks = textured_batch()

    def run(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        torch.manual_seed(seed)
        return aug(images, masks)

    first, again, other = run(3), run(3), run(4)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert first[0].shape != other[0].shape or not torch.equal(first[0], other[0])


def test_integer_masks_come_back_binary_in_their_dtype() -> None:
    images, masks = l_shaped_batch(4)
    torch.manual_seed(0)
    _, augmented_masks = only("elastic")(images, masks.to(torch.uint8))
    assert augmented_masks.dtype == torch.uint8
    assert set(augmented_masks.unique().tolist()) == {0, 1}


def test_mask_with_several_channels_is_rejected() -> None:
    images, masks = textured_batch(2)
    with pytest.raises(ValueError, match="masks"):
        only("hflip")(images, masks.repeat(1, 2, 1, 1))


def test_elastic_alpha_and_sigma_are_in_pixels() -> None:
    """Each displacement component is alpha · (Gaussian-filtered U[-1, 1]) pixels: its std is
    alpha · sqrt(1/3) · sum(g²) with g the normalised 1-D kernel (the 2-D kernel is g ⊗ g), on
    both axes of a non-square image; the magnitude's mean is that · sqrt(pi/2) (Rayleigh)."""
    height, width = 48, 80
    rows, columns = torch.meshgrid(
        torch.arange(height * 1.0), torch.arange(width * 1.0), indexing="ij"
    )
    ramps = torch.stack([columns, rows])[None].repeat(8, 1, 1, 1)
    for alpha, sigma in ((60.0, 3.0), (30.0, 3.0), (60.0, 2.0)):
        radius = math.ceil(4 * sigma)
        offsets = torch.arange(-radius, radius + 1.0)
        kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
        kernel = kernel / kernel.sum()
        expected_std = alpha * math.sqrt(1 / 3) * (kernel**2).sum().item()
        torch.manual_seed(0)
        warped, _ = only("elastic", alpha=alpha, sigma=sigma)(
            ramps, torch.zeros(8, 1, height, width)
        )
        displacement = (warped - ramps)[..., radius:-radius, radius:-radius]
        for axis in (0, 1):
            assert 0.8 < displacement[:, axis].std().item() / expected_std < 1.2
        mean_magnitude = displacement.norm(dim=1).mean().item()
        assert 0.8 < mean_magnitude / (expected_std * math.sqrt(math.pi / 2)) < 1.2


@pytest.mark.parametrize("num_steps", [3, 4])
def test_grid_distortion_keys_reach_the_transform(num_steps: int) -> None:
    width = 61
    images = torch.arange(width * 1.0).expand(4, 1, 8, width).clone()
    masks = torch.zeros_like(images)
    torch.manual_seed(0)
    unchanged, _ = only("grid_distortion", num_steps=num_steps, distort_limit=0.0)(images, masks)
    assert torch.allclose(unchanged, images, atol=1e-4)

    warped, _ = only("grid_distortion", num_steps=num_steps, distort_limit=0.5)(images, masks)
    second_difference = warped[:, 0, 0].diff(n=2, dim=1).abs()
    bends = (second_difference > 1e-3).any(dim=0).nonzero().flatten() + 1
    assert bends.tolist() == [cell * (width - 1) // num_steps for cell in range(1, num_steps)]


def test_multiscale_keys_reach_the_pipeline() -> None:
    settings: dict[str, Any] = {key: {"p": 0.0} for key in ALL_TRANSFORMS}
    images, masks = torch.randn(2, 1, 64, 48), torch.zeros(2, 1, 64, 48)

    def output_shape(**multiscale: Any) -> tuple[int, int]:
        config = AugmentConfig.model_validate({**settings, "multiscale": multiscale})
        return tuple(build_augmentation(config)(images, masks)[0].shape[-2:])

    assert output_shape(enabled=True, scales=(2.0, 2.0), multiple_of=24) == (120, 96)
    assert output_shape(enabled=True, scales=(0.5, 0.5), multiple_of=8) == (32, 24)
    assert output_shape(enabled=False, scales=(2.0, 2.0), multiple_of=24) == (64, 48)
