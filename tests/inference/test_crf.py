import numpy as np
import pytest

from sparseg.config import CrfConfig
from sparseg.errors import SparsegError
from sparseg.inference.crf import crf_refine, image_to_uint8_rgb


def dice(prediction: np.ndarray, truth: np.ndarray) -> float:
    return 2 * np.logical_and(prediction, truth).sum() / (prediction.sum() + truth.sum())


@pytest.fixture
def two_regions() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A dark/bright image (48 x 80), its bright half as truth, and a noisy probability map."""
    truth = np.zeros((48, 80), dtype=bool)
    truth[:, 40:] = True
    image = np.where(truth, 0.8, 0.2)
    rng = np.random.default_rng(0)
    probability = np.clip(np.where(truth, 0.6, 0.4) + rng.normal(0, 0.15, truth.shape), 0, 1)
    return image, probability, truth


def test_crf_cleans_a_noisy_map(two_regions):
    image, probability, truth = two_regions
    thresholded_dice = dice(probability > 0.5, truth)
    refined = crf_refine(image, probability, CrfConfig())
    assert refined.shape == truth.shape and refined.dtype == bool
    assert thresholded_dice < 0.85
    assert dice(refined, truth) > 0.98


def test_uint8_and_unit_float_images_agree(two_regions):
    image, probability, _ = two_regions
    as_uint8 = np.rint(image * 255).astype(np.uint8)
    np.testing.assert_array_equal(
        crf_refine(image, probability, CrfConfig()),
        crf_refine(as_uint8, probability, CrfConfig()),
    )


def test_confident_map_is_kept():
    truth = np.zeros((30, 50), dtype=bool)
    truth[5:12, 20:31] = True
    image = np.where(truth, 200, 30).astype(np.uint8)[:, :, None]
    refined = crf_refine(image, np.where(truth, 0.99, 0.01), CrfConfig(iterations=3))
    np.testing.assert_array_equal(refined, truth)


def test_reference_image_conversion():
    gray = np.array([[0.0, 0.5], [1.0, 0.25]])
    rgb = image_to_uint8_rgb(gray)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8 and rgb.flags.c_contiguous
    np.testing.assert_array_equal(rgb[:, :, 1], [[0, 128], [255, 64]])
    zscored = image_to_uint8_rgb(np.array([[-2.0, 0.0], [2.0, 1.0]]))
    np.testing.assert_array_equal(zscored[:, :, 0], [[0, 128], [255, 191]])
    two_channels = np.stack([np.zeros((2, 2)), np.ones((2, 2))], axis=2)
    np.testing.assert_array_equal(image_to_uint8_rgb(two_channels)[:, :, 2], np.full((2, 2), 128))
    colour = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    np.testing.assert_array_equal(image_to_uint8_rgb(colour), colour)


def test_image_of_another_size_is_refused():
    with pytest.raises(SparsegError, match="does not match"):
        crf_refine(np.zeros((10, 12)), np.zeros((12, 10)), CrfConfig())
