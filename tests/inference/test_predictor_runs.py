import subprocess
import sys

import pytest


def test_onnx_prediction_path_does_not_import_torch() -> None:
    probe = (
        "import sys; import sparseg.cli, sparseg.inference.onnx_predict; "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(("setting", "expected"), [("auto", None), ("yes", True), ("no", False)])
def test_tta_batched_setting_reaches_the_tta_call(monkeypatch, setting, expected) -> None:
    import torch

    from sparseg.config import DataConfig, InferenceConfig
    from sparseg.inference import model_probability

    seen = []

    def fake_predict(model, images, tta, batched=None):
        seen.append((tta, batched))
        return torch.zeros(images.shape[0], 1, *images.shape[-2:]), None

    monkeypatch.setattr(model_probability, "predict_with_presence", fake_predict)
    image = torch.rand(1, 40, 50)
    inference = InferenceConfig(tta=True, tta_batched=setting)
    result = model_probability.probability_map(
        torch.nn.Identity(), image, DataConfig(input_size=(32, 32)), inference
    )
    assert seen == [(True, expected)] and tuple(result.shape) == (40, 50)
