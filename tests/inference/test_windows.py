"""Sliding windows on both backends with the same expectations: numpy (the ONNX path) and torch
(the PyTorch predictor)."""

import functools
import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

from sparseg.inference.tta import predict_probabilities
from sparseg.inference.windows import gaussian_weights, sliding_window, window_starts


def per_pixel_model(channels: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(channels, 1, kernel_size=1), torch.nn.Sigmoid())


@pytest.fixture(params=["numpy", "torch"])
def backend(request) -> str:
    return request.param


def on(backend: str, predict: Callable[[torch.Tensor], torch.Tensor]) -> Callable:
    """``predict`` (torch in and out) as the backend's window predictor."""
    if backend == "torch":
        return predict
    return lambda batch: predict(torch.from_numpy(batch)).numpy()


def run(backend: str, predict, image: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """:func:`sliding_window` on ``backend``; the result, checked to be of that kind, as torch."""
    given = image if backend == "torch" else image.numpy()
    with torch.no_grad():
        stitched = sliding_window(on(backend, predict), given, *args, **kwargs)
    assert type(stitched) is type(given)
    return torch.as_tensor(stitched)


def test_window_starts_follow_nnunet_rule():
    # 68 px left to cover with steps of at most 16: 5 steps of 13.6, rounded.
    assert window_starts(100, 32, 0.5) == [0, 14, 27, 41, 54, 68]
    assert window_starts(64, 32, 0.0) == [0, 32]
    assert window_starts(32, 32, 0.5) == [0]
    assert window_starts(20, 32, 0.5) == [0]


def test_importance_map_is_a_centred_gaussian_with_sigma_an_eighth_of_the_window():
    weights = gaussian_weights((32, 16))
    assert weights.shape == (32, 16) and weights.dtype == np.float32
    assert weights.max() == 1.0
    # rows: sigma 4, centre 15.5, so row 0 is 15.5 px out and the peak rows 0.5 px; the peak
    # (not an exact centre pixel) is scaled to 1.
    expected = math.exp(-(15.5**2 - 0.5**2) / (2 * 4**2))
    assert weights[0, 7].item() == pytest.approx(expected, rel=1e-5)
    assert np.array_equal(weights, weights[::-1]) and np.array_equal(weights, weights[:, ::-1])


@pytest.mark.parametrize("size", [(70, 90), (64, 64), (20, 30), (40, 17)])
def test_per_pixel_model_stitches_to_the_full_image_result(backend, size):
    model = per_pixel_model(2)
    image = torch.randn((1, 2, *size))
    stitched = run(backend, model, image, (32, 48), overlap=0.5)
    with torch.no_grad():
        full = model(image)
    assert stitched.shape == (1, 1, *size)
    torch.testing.assert_close(stitched, full, rtol=0, atol=1e-6)


def test_overlap_is_blended_with_gaussian_weights(backend):
    # Two windows side by side (columns 0-31 and 16-47); the first predicts 1, the second 0.
    image = torch.arange(48.0).expand(1, 1, 32, 48).contiguous()

    def first_window_is_one(tiles: torch.Tensor) -> torch.Tensor:
        return (tiles[:, :, :1, :1] == 0).float().expand(-1, 1, 32, 32).contiguous()

    stitched = run(backend, first_window_is_one, image, (32, 32), overlap=0.5)

    def weight(distance: float) -> float:
        return math.exp(-(distance**2) / (2 * 4**2))

    # Column 24 sits 8.5 px from the first window's centre (15.5) and 7.5 px from the second's.
    expected = weight(8.5) / (weight(8.5) + weight(7.5))
    assert stitched[0, 0, 10, 24].item() == pytest.approx(expected, rel=1e-5)
    assert stitched[0, 0, 10, 5].item() == 1.0
    assert stitched[0, 0, 10, 40].item() == 0.0


def test_batched_windows_equal_one_at_a_time(backend):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, padding=1), torch.nn.Sigmoid())
    image = torch.randn((1, 1, 80, 100))
    one = run(backend, model, image, (32, 32), overlap=0.25)
    three = run(backend, model, image, (32, 32), overlap=0.25, batch_size=3)
    torch.testing.assert_close(one, three)


def test_numpy_windows_equal_torch_windows():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, padding=1), torch.nn.Sigmoid())
    image = torch.randn((1, 1, 50, 70))
    torch.testing.assert_close(
        run("numpy", model, image, (32, 32), overlap=0.5),
        run("torch", model, image, (32, 32), overlap=0.5),
        rtol=0,
        atol=1e-6,
    )


def test_overlap_of_one_is_refused(backend):
    with pytest.raises(ValueError, match="overlap"):
        run(backend, per_pixel_model(1), torch.zeros((1, 1, 8, 8)), (8, 8), 1.0)


def test_accepts_the_tta_predictor_as_predict_fn(backend):
    model = per_pixel_model(1)
    image = torch.randn((1, 1, 50, 70))
    predict = functools.partial(predict_probabilities, model, tta=True)
    stitched = run(backend, predict, image, (32, 32), overlap=0.5, batch_size=2)
    torch.testing.assert_close(stitched, predict(image), rtol=0, atol=1e-6)
