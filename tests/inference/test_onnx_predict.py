import numpy as np
import pytest
import torch

from sparseg.data.dataset import normalize_image
from sparseg.inference.onnx_predict import normalize


@pytest.mark.parametrize("mode", ["zscore", "minmax", "none"])
def test_numpy_normalisation_is_the_torch_one_channel_by_channel(mode):
    """The ONNX path (no torch) normalises as training did, each channel on its own."""
    rng = np.random.default_rng(0)
    image = (rng.random((3, 6, 5)) * np.array([60.0, 1000.0, 250.0])[:, None, None]).astype(
        np.float32
    )
    expected = normalize_image(torch.from_numpy(image), mode).numpy()
    np.testing.assert_allclose(normalize(image, mode), expected, rtol=1e-5, atol=1e-5)
