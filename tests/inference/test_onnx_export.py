import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch

from sparseg.data.preprocess import pad_to_multiple
from sparseg.errors import SparsegError
from sparseg.inference import onnx_export
from sparseg.inference.onnx_export import export_onnx
from sparseg.inference.onnx_runtime import OnnxModel
from sparseg.inference.tta import predict_probabilities
from tests.helpers import shallow_unet


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return shallow_unet(in_channels=2)


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    """(path, max abs difference) for the plain and the TTA export."""
    folder = tmp_path_factory.mktemp("onnx")
    return {
        tta: (
            folder / f"tta_{tta}.onnx",
            export_onnx(model, folder / f"tta_{tta}.onnx", 2, tta=tta),
        )
        for tta in (False, True)
    }


def random_images(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def test_export_is_verified_and_written(exported):
    for path, difference in exported.values():
        assert path.is_file()
        assert 0.0 < difference <= 1e-4
    assert not list(path.parent.glob(".*.tmp"))


def test_graph_has_dynamic_axes_and_opset_17(exported):
    graph = onnx.load(exported[False][0])
    assert max(entry.version for entry in graph.opset_import if entry.domain == "") >= 17
    (images,) = graph.graph.input
    dims = [dim.dim_param or dim.dim_value for dim in images.type.tensor_type.shape.dim]
    assert dims == ["batch", 2, "height", "width"]


def test_onnx_matches_pytorch_at_another_size(model, exported):
    images = random_images((1, 2, 96, 64))
    expected = predict_probabilities(model, torch.from_numpy(images), tta=False).numpy()
    actual = OnnxModel(exported[False][0])(images)
    assert actual.shape == (1, 1, 96, 64)
    assert np.abs(actual - expected).max() <= 1e-4


def test_tta_export_equals_the_torch_tta(model, exported):
    images = random_images((1, 2, 64, 96))
    expected = predict_probabilities(model, torch.from_numpy(images), tta=True).numpy()
    actual = OnnxModel(exported[True][0])(images)
    assert np.abs(actual - expected).max() <= 1e-4
    plain = OnnxModel(exported[False][0])(images)
    assert np.abs(actual - plain).max() > 1e-3


def test_predictor_pads_like_the_torch_path(model, exported):
    images = random_images((1, 2, 50, 70))
    padded, (rows, cols) = pad_to_multiple(torch.from_numpy(images))
    expected = predict_probabilities(model, padded, tta=False)[..., rows, cols].numpy()
    actual = OnnxModel(exported[False][0])(images)
    assert actual.shape == (1, 1, 50, 70)
    assert np.abs(actual - expected).max() <= 1e-4


def test_wrong_channel_count_is_one_clear_error(exported):
    path = exported[False][0]
    with pytest.raises(SparsegError, match=r"expects 2 channel\(s\), images have 3"):
        OnnxModel(path)(random_images((1, 3, 32, 32)))


def test_a_file_that_is_not_onnx_is_refused(tmp_path):
    text = tmp_path / "model.onnx"
    text.write_text("not a model\n")
    with pytest.raises(SparsegError, match=r"model\.onnx: not an ONNX model \("):
        OnnxModel(text)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(SparsegError, match="not an ONNX model"):
        OnnxModel(empty)
    with pytest.raises(SparsegError, match="file not found"):
        OnnxModel(tmp_path / "missing.onnx")


def test_failed_check_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.onnx"
    path.write_text("previous\n")
    monkeypatch.setattr(onnx_export, "PROBABILITY_TOLERANCE", -1.0)
    with pytest.raises(SparsegError, match="differs from PyTorch: probabilities differ by up to"):
        export_onnx(torch.nn.Conv2d(1, 1, 3, padding=1), path, in_channels=1)
    assert path.read_text() == "previous\n"
    assert [entry.name for entry in tmp_path.iterdir()] == ["model.onnx"]


def shifted_runtime(monkeypatch, shift: float) -> None:
    """onnxruntime's probabilities moved by ``shift`` (a float32 rounding drift, or worse)."""
    outputs = OnnxModel.outputs

    def shifted(self, images):
        found = outputs(self, images)
        return {**found, "probabilities": found["probabilities"] + shift}

    monkeypatch.setattr(OnnxModel, "outputs", shifted)


def test_a_float32_rounding_drift_is_not_refused(tmp_path, monkeypatch):
    shifted_runtime(monkeypatch, 1.2e-4)  # what a 3-epoch quick.yaml model showed
    difference = export_onnx(torch.nn.Conv2d(1, 1, 3, padding=1), tmp_path / "m.onnx", 1)
    assert difference == pytest.approx(1.2e-4, rel=0.05)
    assert (tmp_path / "m.onnx").is_file()


def test_a_real_difference_is_refused_saying_what_and_by_how_much(tmp_path, monkeypatch):
    shifted_runtime(monkeypatch, 0.02)
    with pytest.raises(SparsegError) as caught:
        export_onnx(torch.nn.Conv2d(1, 1, 3, padding=1), tmp_path / "m.onnx", 1, threshold=0.4)
    message = str(caught.value)
    assert "probabilities differ by up to 2.00e-02 (tolerance 1e-03)" in message
    assert "mask pixels differ at threshold 0.4" in message
    assert not (tmp_path / "m.onnx").exists()


def test_masks_flipping_only_at_the_threshold_are_tolerated():
    expected = np.array([0.1, 0.5004, 0.9], np.float32)
    assert onnx_export.compare_probabilities(expected, expected - 8e-4, 0.5)[1] is None
    wrong = expected - np.float32([0.0, 0.0, 0.5])
    _, problem = onnx_export.compare_probabilities(expected, wrong, 0.5)
    assert problem.startswith("probabilities differ by up to 5.00e-01")
    assert problem.endswith("1 of 3 mask pixels differ at threshold 0.5")


def test_opset_below_17_is_refused(tmp_path):
    with pytest.raises(SparsegError, match="opset"):
        export_onnx(torch.nn.Conv2d(1, 1, 1), tmp_path / "m.onnx", in_channels=1, opset=16)


def test_onnx_predictor_does_not_import_torch():
    code = "import sys, sparseg.inference.onnx_runtime; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_a_presence_head_is_the_graphs_second_output_equal_to_torch(tmp_path):
    from sparseg.inference.tta import predict_with_presence

    model = shallow_unet(presence=True)
    images = random_images((3, 1, 64, 96))
    for tta in (False, True):
        path = tmp_path / f"presence_{tta}.onnx"
        export_onnx(model, path, 1, tta=tta)
        assert [output.name for output in onnx.load(path).graph.output] == [
            "probabilities",
            "presence",
        ]
        runtime = OnnxModel(path)
        probabilities, presence = runtime.predict(images)
        expected, expected_presence = predict_with_presence(model, torch.from_numpy(images), tta)
        assert presence.shape == (3, 1) and runtime.has_presence
        np.testing.assert_allclose(presence, expected_presence.numpy(), atol=1e-5)
        np.testing.assert_allclose(probabilities, expected.numpy(), atol=1e-4)
