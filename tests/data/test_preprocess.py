"""The preprocessing every model sees, on both backends with the same expectations: numpy (the
ONNX path) and torch (training and the PyTorch predictor)."""

import numpy as np
import pytest
import torch
from PIL import Image

from sparseg.data.preprocess import (
    RESIZE_TOLERANCE,
    normalize_image,
    pad_to_multiple,
    pad_to_size,
    resize_image,
)
from sparseg.errors import SparsegError

BACKENDS = {
    "numpy": lambda values: np.array(values, dtype=np.float32),
    "torch": lambda values: torch.tensor(np.asarray(values, dtype=np.float32)),
}


@pytest.fixture(params=sorted(BACKENDS))
def kind(request):
    """Makes float32 arrays of one backend from nested lists or numpy arrays."""
    return BACKENDS[request.param]


def values(array) -> np.ndarray:
    assert isinstance(array, np.ndarray | torch.Tensor)
    return np.asarray(array)


def check(result, reference, expected, atol: float = 1e-6) -> None:
    """``result`` is of ``reference``'s kind and holds ``expected``."""
    assert type(result) is type(reference)
    np.testing.assert_allclose(values(result), expected, rtol=0, atol=atol)


def test_normalizations(kind):
    image = kind([[[0.2, 0.4], [0.6, 1.0]]])
    zscore = values(normalize_image(image, "zscore"))
    assert abs(zscore.mean()) < 1e-6 and abs(zscore.std() - 1) < 1e-5
    check(normalize_image(image, "minmax"), image, [[[0.0, 0.25], [0.5, 1.0]]])
    assert normalize_image(image, "none") is image
    constant = kind(np.full((1, 2, 2), 0.3))
    check(normalize_image(constant, "zscore"), constant, np.zeros((1, 2, 2)))
    check(normalize_image(constant, "minmax"), constant, np.zeros((1, 2, 2)))
    with pytest.raises(SparsegError, match=r"data\.normalize: unknown mode 'l2'"):
        normalize_image(image, "l2")


@pytest.mark.parametrize("mode", ["zscore", "minmax"])
def test_each_channel_is_normalised_on_its_own(kind, mode):
    """Contrasts on unrelated scales (FLAIR ~60, T1 ~1000): each channel gets its own statistics,
    so scaling one channel changes nothing in the others."""
    scales = np.array([60.0, 1000.0, 250.0])[:, None, None]
    pixels = np.random.default_rng(0).random((3, 6, 5)) * scales
    normalised = values(normalize_image(kind(pixels), mode))
    for channel in range(3):
        alone = normalize_image(kind(pixels[channel : channel + 1]), mode)
        np.testing.assert_allclose(normalised[channel], values(alone)[0], atol=1e-6)
    pixels[1] *= 40.0
    rescaled = values(normalize_image(kind(pixels), mode))
    np.testing.assert_allclose(rescaled[[0, 2]], normalised[[0, 2]], atol=1e-6)


@pytest.mark.parametrize("mode", ["zscore", "minmax", "none"])
def test_numpy_normalises_as_torch(mode):
    """The ONNX path (numpy) normalises as training did (torch)."""
    image = np.random.default_rng(0).random((3, 6, 5)).astype(np.float32) * 300
    expected = normalize_image(torch.from_numpy(image), mode).numpy()
    np.testing.assert_allclose(normalize_image(image, mode), expected, rtol=1e-5, atol=1e-5)


def test_resize_is_identity_at_the_same_size_and_bilinear_otherwise(kind):
    image = kind(np.random.default_rng(0).random((3, 5, 7)))
    assert resize_image(image, (5, 7)) is image
    ramp = kind([[[0.0, 1.0]]])
    check(resize_image(ramp, (1, 4)), ramp, [[[0.0, 0.25, 0.75, 1.0]]])


def test_shrinking_averages_every_input_pixel(kind):
    """Antialiased: halving a row weighs the pixels within two of each output centre by a
    triangle (3/7, 3/7, 1/7 for the first output), rather than sampling two of them."""
    row = kind([[[0.0, 1.0, 2.0, 3.0]]])
    check(resize_image(row, (1, 2)), row, [[[5 / 7, 16 / 7]]])


def test_resize_keeps_leading_axes(kind):
    pixels = np.random.default_rng(1).random((2, 3, 9, 6))
    batch = resize_image(kind(pixels), (4, 5))
    assert tuple(batch.shape) == (2, 3, 4, 5)
    plane = resize_image(kind(pixels[1, 2]), (4, 5))
    check(plane, kind(pixels[1, 2]), values(batch)[1, 2])


@pytest.mark.parametrize(
    ("source", "target"), [((37, 53), (16, 16)), ((16, 16), (37, 53)), ((128, 128), (96, 96))]
)
def test_numpy_resizes_as_torch_and_as_pil(source, target):
    """One filter on both backends (torch's antialiased bilinear, PIL's BILINEAR), within the
    stated tolerance."""
    image = np.random.default_rng(2).random((2, *source)).astype(np.float32)
    ours = resize_image(image, target)
    np.testing.assert_allclose(
        ours, resize_image(torch.from_numpy(image), target).numpy(), atol=RESIZE_TOLERANCE
    )
    pil = [Image.fromarray(p).resize(target[::-1], Image.Resampling.BILINEAR) for p in image]
    np.testing.assert_allclose(ours, np.stack([np.asarray(p) for p in pil]), atol=RESIZE_TOLERANCE)


def test_pad_to_multiple_centres_and_replicates_edges(kind):
    x = kind(np.arange(50 * 70).reshape(1, 1, 50, 70))
    padded, (rows, cols) = pad_to_multiple(x, 32)
    assert tuple(padded.shape) == (1, 1, 64, 96)
    assert (rows, cols) == (slice(7, 57), slice(13, 83))
    check(padded[..., rows, cols], x, values(x))
    assert padded[0, 0, 0, 0] == x[0, 0, 0, 0] and padded[0, 0, -1, -1] == x[0, 0, -1, -1]
    check(padded[..., :7, 13:83], x, np.broadcast_to(values(x)[..., :1, :], (1, 1, 7, 70)))


def test_pad_leaves_fitting_images_alone(kind):
    x = kind(np.random.default_rng(3).random((1, 1, 64, 32)))
    padded, crop = pad_to_multiple(x, 32)
    assert padded is x
    assert crop == (slice(0, 64), slice(0, 32))
    assert tuple(pad_to_size(x, (16, 48))[0].shape) == (1, 1, 64, 48)
