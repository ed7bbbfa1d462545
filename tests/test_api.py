"""The Python API through its public names only: ``import sparseg`` then sparseg.<name>."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import sparseg
from tests.helpers import TINY_OVERRIDES, write_nifti_cases

# What docs/deployment.md leaves out of an install that only predicts with ONNX files.
BLOCK_TRAINING_PACKAGES = """
import sys
BLOCKED = {"torch", "torchvision", "segmentation_models_pytorch", "kornia", "lightning_fabric",
           "timm", "onnx", "matplotlib", "tensorboard", "safetensors", "psutil"}
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(name)
sys.meta_path.insert(0, Block())
import sparseg
"""


def tiny(*overrides: str) -> sparseg.Config:
    return sparseg.load_config(None, [*TINY_OVERRIDES, "training.max_epochs=1", *overrides])


@pytest.fixture(scope="module")
def folds(synthetic_data, tmp_path_factory):
    """Two folds trained with ``fold="all"``: fold_0 is the run most tests use."""
    root = tmp_path_factory.mktemp("api")
    ids = sorted(path.stem for path in (synthetic_data / "images").glob("*.png"))
    split = root / "split.json"
    folds = [{"train": ids[4:14], "val": ids[14:]}, {"train": ids[10:], "val": ids[4:10]}]
    split.write_text(json.dumps({"test": ids[:4], "folds": folds}))
    summaries = sparseg.train(tiny(), synthetic_data, root / "folds", split=split, fold="all")
    assert sorted(summaries) == [str(root / "folds" / f"fold_{k}") for k in (0, 1)]
    assert all(summary["steps"] > 0 for summary in summaries.values())
    return root / "folds"


@pytest.fixture(scope="module")
def run(folds):
    return folds / "fold_0"


def first_image(data):
    return sorted((data / "images").glob("*.png"))[0]


def test_import_leaves_the_api_and_torch_unloaded_until_a_name_is_used() -> None:
    code = (
        "import sys, sparseg; before = {'sparseg.api', 'torch'} & set(sys.modules); "
        "sparseg.Predictor; after = 'sparseg.api' in sys.modules; "
        "print(sorted(before), after, 'torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["[]", "True", "False"], result.stderr


def test_every_exported_name_resolves_and_others_do_not() -> None:
    assert all(getattr(sparseg, name) is not None for name in sparseg.__all__)
    assert set(sparseg.__all__) <= set(dir(sparseg))
    with pytest.raises(AttributeError, match="no attribute 'Trainer'"):
        _ = sparseg.Trainer


def test_load_config_applies_overrides_and_refuses_bad_keys(tmp_path) -> None:
    preset = tmp_path / "preset.yaml"
    preset.write_text("training:\n  lr: 0.01\n")
    config = sparseg.load_config(preset, ["model.encoder=resnet18"])
    assert config.training.lr == 0.01 and config.model.encoder == "resnet18"
    with pytest.raises(sparseg.SparsegError, match=r"training\.lrr: unknown key"):
        sparseg.load_config(None, ["training.lrr=1"])


def test_train_writes_the_run_and_tune_writes_what_the_predictor_applies(
    run, synthetic_data, tmp_path
):
    assert {"best.ckpt", "config.yaml", "split.json", "train_summary.json"} <= {
        path.name for path in run.iterdir()
    }
    tuned = tmp_path / "run"  # a copy: the other tests predict with the untuned run
    shutil.copytree(run, tuned, ignore=shutil.ignore_patterns("last.ckpt"))
    payload = sparseg.tune(tuned, synthetic_data)
    assert json.loads((tuned / "inference.json").read_text()) == payload
    assert sparseg.Predictor(tuned).inference.model_dump(mode="json") == payload["inference"]


def test_predictor_gives_the_same_mask_for_a_file_and_its_pixels(run, synthetic_data):
    path = first_image(synthetic_data)
    predictor = sparseg.Predictor(run)
    from_file = predictor.predict(path)
    from_array = predictor.predict(np.array(Image.open(path)))
    assert from_file.mask.shape == from_file.probabilities.shape == (64, 64)
    assert from_file.mask.dtype == bool and from_file.probabilities.dtype == np.float32
    assert 0.0 <= from_file.probabilities.min() <= from_file.probabilities.max() <= 1.0
    np.testing.assert_array_equal(from_file.mask, from_array.mask)
    np.testing.assert_allclose(from_file.probabilities, from_array.probabilities, atol=1e-6)


def test_predictor_refuses_what_it_cannot_read(run, synthetic_data) -> None:
    predictor = sparseg.Predictor(run)
    with pytest.raises(sparseg.SparsegError, match="a folder; predict"):
        predictor.predict(synthetic_data / "images")
    with pytest.raises(sparseg.SparsegError, match="file not found"):
        predictor.predict(synthetic_data / "images" / "missing.png")
    with pytest.raises(sparseg.SparsegError, match="has 2 channel"):
        predictor.predict(np.zeros((64, 64, 2), np.uint8))
    with pytest.raises(sparseg.SparsegError, match="expected \\(H, W\\) or \\(H, W, C\\)"):
        predictor.predict(np.zeros((2, 64, 64, 1), np.uint8))


def test_evaluate_scores_the_test_split(run, synthetic_data, tmp_path):
    summary = sparseg.evaluate(run, synthetic_data, out=tmp_path / "eval")
    test_ids = json.loads((run / "split.json").read_text())["test"]
    assert summary["n_images"] == len(test_ids)
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["n_images"] == len(test_ids)


def test_predict_writes_masks_that_score_scores_like_any_tool(run, synthetic_data, tmp_path):
    written = sparseg.predict(run, synthetic_data / "images", tmp_path / "masks")
    assert len(written) == 24 and len(list((tmp_path / "masks").glob("*.png"))) == 24
    summary = sparseg.score(tmp_path / "masks", synthetic_data, split=run / "split.json")
    assert summary["n_images"] == 4
    truth_as_predictions = tmp_path / "other_tool"
    shutil.copytree(synthetic_data / "masks", truth_as_predictions)
    perfect = sparseg.score(truth_as_predictions, synthetic_data)
    assert perfect["n_images"] == 24 and perfect["dice_pooled"] == pytest.approx(1.0)


def test_an_exported_onnx_file_predicts_what_the_run_predicts(run, synthetic_data, tmp_path):
    onnx = tmp_path / "model.onnx"
    difference = sparseg.export(run, onnx)
    assert onnx.is_file() and difference < 1e-3
    path = first_image(synthetic_data)
    from_run = sparseg.Predictor(run).predict(path)
    from_onnx = sparseg.Predictor(onnx).predict(path)
    np.testing.assert_allclose(from_onnx.probabilities, from_run.probabilities, atol=1e-4)
    np.testing.assert_array_equal(from_onnx.mask, from_run.mask)
    with pytest.raises(sparseg.SparsegError, match="predicts alone"):
        sparseg.Predictor([run, onnx])
    code = f"{BLOCK_TRAINING_PACKAGES}\nsparseg.Predictor({str(onnx)!r}).predict({str(path)!r})"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr  # deployable where only the ONNX path is installed


def test_a_fold_folder_predicts_as_the_mean_of_its_folds(folds, synthetic_data):
    path = first_image(synthetic_data)
    each = [sparseg.Predictor(folds / f"fold_{k}").predict(path).probabilities for k in (0, 1)]
    assert np.abs(each[0] - each[1]).max() > 1e-3  # two different models, or this proves nothing
    ensemble = sparseg.Predictor(folds).predict(path).probabilities
    np.testing.assert_allclose(ensemble, (each[0] + each[1]) / 2, atol=1e-5)


def test_a_volume_file_gives_a_mask_volume_of_its_shape(tmp_path):
    data = write_nifti_cases(tmp_path / "volumes", ("a", "b", "c", "d"))
    config = tiny(
        "data.input_size=[32, 32]",
        "training.max_steps=2",
        "data.val_fraction=0.25",
        "data.test_fraction=0.25",
    )
    sparseg.train(config, data, tmp_path / "run")
    prediction = sparseg.Predictor(tmp_path / "run").predict(data / "imagesTr" / "a_0000.nii.gz")
    assert prediction.mask.shape == prediction.probabilities.shape == (32, 32, 6)
    assert prediction.mask.dtype == bool
    # the first slice of every test volume is all zero: not predicted (data.keep_slices)
    assert not prediction.probabilities[..., 0].any() and prediction.probabilities[..., 1:].any()
