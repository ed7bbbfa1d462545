import pytest
import torch

from sparseg.inference.tta import (
    D4_VIEWS,
    predict_probabilities,
    rot90,
    rot270,
)
from tests.helpers import shallow_unet


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return shallow_unet()  # fast enough to run 8 views many times


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    # Non-square and without any symmetry, so every view is a different image.
    return torch.randn((1, 1, 32, 64), generator=torch.Generator().manual_seed(1))


def explicit_eight_calls(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    def probability(view: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(model(view))

    def rotate(t: torch.Tensor, k: int) -> torch.Tensor:
        return torch.rot90(t, k, (2, 3))

    def transpose(t: torch.Tensor) -> torch.Tensor:
        return t.permute(0, 1, 3, 2)

    def anti(t: torch.Tensor) -> torch.Tensor:
        return rotate(transpose(t), 2)

    with torch.no_grad():
        views = [
            probability(x),
            torch.flip(probability(torch.flip(x, [3])), [3]),
            torch.flip(probability(torch.flip(x, [2])), [2]),
            rotate(probability(rotate(x, 1)), -1),
            rotate(probability(rotate(x, 2)), -2),
            rotate(probability(rotate(x, 3)), -3),
            transpose(probability(transpose(x))),
            anti(probability(anti(x))),
        ]
    return sum(views) / 8


def test_quarter_turns_match_torch_rot90(images):
    assert torch.equal(rot90(images), torch.rot90(images, 1, (-2, -1)))
    assert torch.equal(rot270(images), torch.rot90(images, -1, (-2, -1)))


def test_views_are_eight_distinct_exactly_inverted_transforms(images):
    assert len(D4_VIEWS) == 8
    seen = []
    for forward, inverse in D4_VIEWS:
        view = forward(images)
        assert torch.equal(inverse(view), images)
        assert not any(view.shape == other.shape and torch.equal(view, other) for other in seen)
        seen.append(view)


@pytest.mark.parametrize("batched", [False, True])
def test_tta_equals_explicit_reference(model, images, batched):
    expected = explicit_eight_calls(model, images)
    actual = predict_probabilities(model, images, tta=True, batched=batched)
    assert actual.shape == (1, 1, 32, 64)
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-5)


def test_tta_differs_from_plain_prediction(model, images):
    # Guards the reference test against a TTA that silently falls back to one view.
    plain = predict_probabilities(model, images, tta=False)
    with torch.no_grad():
        torch.testing.assert_close(plain, torch.sigmoid(model(images)))
    assert (predict_probabilities(model, images, tta=True) - plain).abs().max() > 1e-4


def test_tta_of_per_pixel_model_equals_plain():
    pixelwise = torch.nn.Conv2d(2, 1, kernel_size=1)
    x = torch.randn((1, 2, 5, 7))
    torch.testing.assert_close(
        predict_probabilities(pixelwise, x, tta=True),
        predict_probabilities(pixelwise, x, tta=False),
    )
