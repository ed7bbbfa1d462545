"""``sparseg predict``: masks (and probabilities) for a folder of images or volumes."""

from __future__ import annotations

from pathlib import Path

from sparseg.data.volumes import Slicing
from sparseg.inference.mask_files import prediction_inputs, write_predictions
from sparseg.inference.predictor import Predictor


def predict_folder(
    runs: list[Path], input_path: Path, out_dir: Path, probabilities: bool = False
) -> list[str]:
    """One binary mask PNG (0/255) per input image at its native size, named by id; one mask
    volume per input volume or stack, named by case (see :mod:`sparseg.inference.mask_files`)."""
    predictor = Predictor(runs)
    pairs, out_dir = prediction_inputs(input_path, out_dir, Slicing.of(predictor.config.data))
    results = predictor.predict_items(pairs)
    return write_predictions(results, out_dir, probabilities, predictor.inference)
