"""``sparseg predict``: masks (and probabilities) for a folder of images or volumes, from any
:class:`~sparseg.inference.image_predictor.ImagePredictor` (runs, a fold ensemble, an ONNX file)."""

from __future__ import annotations

from pathlib import Path

from sparseg.data.volumes import Slicing
from sparseg.inference.image_predictor import ImagePredictor
from sparseg.inference.mask_files import prediction_inputs, write_predictions


def predict_folder(
    predictor: ImagePredictor, input_path: Path, out_dir: Path, probabilities: bool = False
) -> list[str]:
    """One binary mask PNG (0/255) per input image at its native size, named by id; one mask
    volume per input volume or stack, named by case (see :mod:`sparseg.inference.mask_files`)."""
    items, out_dir = prediction_inputs(input_path, out_dir, Slicing.of(predictor.data))
    results = predictor.predict_items(items)
    return write_predictions(results, out_dir, probabilities, predictor.inference)
