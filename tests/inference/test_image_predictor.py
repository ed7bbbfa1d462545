"""One predictor interface: the PyTorch runs and the ONNX file answer under the same names."""

import inspect
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import segmentation_models_pytorch as smp
import torch
from PIL import Image

from sparseg.config import DataConfig, InferenceConfig
from sparseg.data.items import as_item
from sparseg.errors import SparsegError
from sparseg.inference.image_predictor import ImagePredictor
from sparseg.inference.onnx_export import export_onnx
from sparseg.inference.onnx_predict import METADATA_KEY, OnnxPredictor
from sparseg.inference.out_of_fold import OutOfFoldPredictor
from sparseg.inference.predictor import Predictor

PREDICTORS = [Predictor, OutOfFoldPredictor, OnnxPredictor]
METHODS = ["image", "prediction", "probabilities", "mask", "predict_items"]


@pytest.mark.parametrize("predictor", PREDICTORS)
def test_every_predictor_implements_the_interface_with_its_signatures(predictor):
    assert issubclass(predictor, ImagePredictor) and not inspect.isabstract(predictor)
    for name in METHODS:
        ours = inspect.signature(getattr(predictor, name)).parameters.values()
        interface = inspect.signature(getattr(ImagePredictor, name)).parameters.values()
        assert [(p.name, p.default) for p in ours] == [(p.name, p.default) for p in interface]


class Doubling(ImagePredictor):
    """Probability = half the image's first channel; presence = its mean."""

    def __init__(self, in_channels: int = 1) -> None:
        self.data = DataConfig()
        self.inference = InferenceConfig(threshold=0.3)
        self.in_channels = in_channels

    def image(self, item):
        return np.asarray(Image.open(self._checked_item(item).image), np.float32)[None] / 255

    def prediction(self, image, inference=None, item_id=None):
        return np.asarray(image)[0] / 2, float(np.asarray(image).mean())


def test_the_interface_finishes_masks_from_either_backend(tmp_path):
    path = tmp_path / "a.png"
    pixels = np.zeros((8, 8), np.uint8)
    pixels[2:6, 2:6] = 255
    Image.fromarray(pixels).save(path)
    predictor = Doubling()
    image = predictor.image(path)
    np.testing.assert_array_equal(predictor.probabilities(image), image[0] / 2)
    mask = predictor.mask(image, predictor.probabilities(image), None)
    np.testing.assert_array_equal(mask.astype(bool), pixels > 0)
    np.testing.assert_array_equal(predictor.mask(torch.from_numpy(image), image[0] / 2, None), mask)
    ((item, probability, item_mask),) = predictor.predict_items([as_item(path)])
    assert item.id == "a" and probability.shape == (8, 8)
    np.testing.assert_array_equal(item_mask, mask)
    with pytest.raises(SparsegError, match="image has 1 channel\\(s\\) but the model expects 3"):
        Doubling(in_channels=3).image(path)


def onnx_file(folder: Path, tta: bool) -> Path:
    """A tiny network exported as ``sparseg export`` writes it (graph and metadata)."""
    torch.manual_seed(0)
    network = smp.Unet(
        "resnet18", encoder_weights=None, encoder_depth=3, decoder_channels=(16, 8, 4), classes=1
    ).eval()
    path = folder / "model.onnx"
    export_onnx(network, path, 3, tta=tta)
    model = onnx.load(str(path))
    metadata = {
        "in_channels": 3,
        "data": DataConfig(input_size=[32, 32]).model_dump(mode="json"),
        "tta_in_graph": tta,
        "inference": InferenceConfig(tta=tta).model_dump(mode="json"),
        "runs": 1,
    }
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(metadata)
    onnx.save(model, str(path))
    return path


def test_the_onnx_predictor_takes_other_windows_but_not_another_tta(tmp_path):
    predictor = OnnxPredictor(onnx_file(tmp_path, tta=False))
    assert predictor.in_channels == 3 and tuple(predictor.data.input_size) == (32, 32)
    image = np.random.default_rng(0).random((3, 40, 50)).astype(np.float32)
    resized, _ = predictor.prediction(image)
    windows, _ = predictor.prediction(image, InferenceConfig(sliding_window=True), "any")
    assert resized.shape == windows.shape == (40, 50)
    np.testing.assert_array_equal(predictor.probabilities(torch.from_numpy(image)), resized)
    with pytest.raises(SparsegError, match="exported with tta=false"):
        predictor.prediction(image, InferenceConfig(tta=True))
