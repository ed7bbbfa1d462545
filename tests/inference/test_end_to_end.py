"""Train a tiny model → tune → predict → evaluate → export → ONNX predict equals PyTorch."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from sparseg.inference.predictor import Predictor
from sparseg.training import train
from tests.helpers import tiny_config


@pytest.fixture(scope="module")
def trained_run(synthetic_data, tmp_path_factory):
    run = tmp_path_factory.mktemp("e2e") / "run"
    train(tiny_config("training.max_epochs=1"), synthetic_data, run, quiet=True)
    return run


def read_masks(folder):
    return {p.stem: np.array(Image.open(p)) for p in sorted(folder.glob("*.png"))}


def test_tune_writes_decisions_and_predict_applies_them(trained_run, synthetic_data, run_cli):
    result = run_cli("tune", "--run", trained_run, "--data", synthetic_data)
    assert result.code == 0, result.stderr
    payload = json.loads((trained_run / "inference.json").read_text())
    steps = [row["step"] for row in payload["decisions"]]
    assert steps[:2] == ["tta", "threshold"] and "dense CRF" in steps
    assert payload["tuned_val_dice"] >= payload["baseline_val_dice"]
    for row in payload["decisions"]:
        assert row["kept"] == (row["dice_with"] > row["dice_without"] + 1e-3)
    tuned = Predictor([trained_run]).inference
    assert tuned.model_dump(mode="json") == payload["inference"]


def test_predict_writes_native_size_masks_and_probabilities(
    trained_run, synthetic_data, tmp_path, run_cli
):
    out = tmp_path / "pred"
    result = run_cli(
        "predict",
        "--run",
        trained_run,
        "--input",
        synthetic_data / "images",
        "--out",
        out,
        "--probabilities",
    )
    assert result.code == 0, result.stderr
    masks = read_masks(out)
    assert len(masks) == 24
    assert all(m.shape == (64, 64) and set(np.unique(m)) <= {0, 255} for m in masks.values())
    probability = np.array(Image.open(next((out / "probabilities").glob("*.png"))))
    assert probability.dtype == np.uint16


@pytest.fixture(scope="module")
def other_run(synthetic_data, tmp_path_factory):
    run = tmp_path_factory.mktemp("e2e_other") / "run"
    train(tiny_config("training.max_epochs=1", "seed=1"), synthetic_data, run, quiet=True)
    return run


def test_ensemble_of_two_runs_averages_probabilities(trained_run, other_run, synthetic_data):
    image_path = sorted((synthetic_data / "images").glob("*.png"))[0]
    first, second = Predictor([trained_run]), Predictor([other_run])
    image = first.image(image_path)
    one, two = first.probabilities(image), second.probabilities(image)
    assert np.abs(one - two).max() > 1e-3  # two different models, or the test proves nothing
    both = Predictor([trained_run, other_run]).probabilities(image)
    assert np.allclose(both, (one + two) / 2, atol=1e-6)


def test_evaluate_scores_the_test_split(trained_run, synthetic_data, tmp_path, run_cli):
    json_out = tmp_path / "metrics.json"
    result = run_cli("evaluate", "--run", trained_run, "--data", synthetic_data, "--json", json_out)
    assert result.code == 0, result.stderr
    assert "dice_nonempty_truth" in result.stdout
    summary = json.loads(json_out.read_text())
    test_ids = json.loads((trained_run / "split.json").read_text())["test"]
    assert summary["n_images"] == len(test_ids)
    assert (trained_run / "eval_test" / "metrics_per_image.csv").is_file()
    masks = read_masks(trained_run / "eval_test" / "masks")
    assert sorted(masks) == sorted(test_ids)
    rescored = run_cli(
        "score",
        "--pred",
        trained_run / "eval_test" / "masks",
        "--data",
        synthetic_data,
        "--split",
        trained_run / "split.json",
    )
    assert rescored.code == 0, rescored.stderr


def force_tuned(run, synthetic_data, **inference) -> dict:
    """Tune ``run``, then keep the given inference settings over what tune decided (as an
    ablation's ``after_tune`` does), with the threshold inside the model's probability range."""
    from sparseg.config import InferenceConfig
    from sparseg.inference.tune import tune

    payload = tune(run, synthetic_data)
    predictor = Predictor([run])
    image = predictor.image(sorted((synthetic_data / "images").glob("*.png"))[0])
    threshold = float(np.quantile(predictor.probabilities(image), 0.8))
    settings = {**payload["inference"], **inference, "threshold": round(threshold, 4)}
    payload["inference"] = InferenceConfig.model_validate(settings).model_dump(mode="json")
    (run / "inference.json").write_text(json.dumps(payload))
    return payload["inference"]


def predict_both_ways(run, data, tmp_path, run_cli) -> tuple[dict, dict]:
    """Export the run to ONNX, predict the data's images with PyTorch and with ONNX: the masks
    of each, by id (the same ids, checked)."""
    onnx = tmp_path / "model.onnx"
    assert run_cli("export", "--run", run, "--onnx", onnx).code == 0
    torch_out, onnx_out = tmp_path / "torch", tmp_path / "onnx"
    images = data / "images"
    assert run_cli("predict", "--run", run, "--input", images, "--out", torch_out).code == 0
    assert run_cli("predict", "--onnx", onnx, "--input", images, "--out", onnx_out).code == 0
    torch_masks, onnx_masks = read_masks(torch_out), read_masks(onnx_out)
    assert sorted(torch_masks) == sorted(onnx_masks)
    return torch_masks, onnx_masks


@pytest.mark.parametrize("windows", [False, True])
def test_onnx_masks_equal_pytorch_after_tune_kept_tta_and_postprocessing(
    synthetic_data, tmp_path, run_cli, windows
):
    run = tmp_path / "run"
    train(
        tiny_config("training.max_epochs=1", "data.input_size=[32, 32]"),
        synthetic_data,
        run,
        quiet=True,
    )
    postprocess = {"min_object_size": 3, "closing_radius": 1, "fill_holes": True}
    kept = force_tuned(
        run, synthetic_data, tta=True, sliding_window=windows, postprocess=postprocess
    )
    torch_masks, onnx_masks = predict_both_ways(run, synthetic_data, tmp_path, run_cli)
    foreground = sum(int((mask > 0).sum()) for mask in torch_masks.values())
    assert 0 < foreground < 24 * 64 * 64 and kept["tta"] and kept["postprocess"]["fill_holes"]
    differing = sum(int((torch_masks[k] != onnx_masks[k]).sum()) for k in torch_masks)
    assert differing == 0


def test_export_refuses_a_tta_setting_the_tuned_run_does_not_use(trained_run, tmp_path, run_cli):
    tuned = Predictor([trained_run]).inference.tta
    flag = "--no-tta" if tuned else "--tta"
    result = run_cli("export", "--run", trained_run, "--onnx", tmp_path / "m.onnx", flag)
    assert result.code == 2 and f"so {flag} would export a model" in result.stderr
    assert not (tmp_path / "m.onnx").exists()


def test_onnx_prediction_equals_pytorch(trained_run, synthetic_data, tmp_path, run_cli):
    torch_masks, onnx_masks = predict_both_ways(trained_run, synthetic_data, tmp_path, run_cli)
    differing = sum(int((torch_masks[k] != onnx_masks[k]).sum()) for k in torch_masks)
    assert differing == 0


def test_bad_inputs_are_one_line_errors(trained_run, synthetic_data, tmp_path, run_cli):
    not_onnx = tmp_path / "model.onnx"
    not_onnx.write_text("not a model")
    result = run_cli(
        "predict", "--onnx", not_onnx, "--input", synthetic_data, "--out", tmp_path / "o"
    )
    assert result.code == 2 and "not an ONNX model" in result.stderr
    result = run_cli("evaluate", "--run", tmp_path, "--data", synthetic_data)
    assert result.code == 2 and "no best.ckpt" in result.stderr
    rgb = tmp_path / "rgb"
    rgb.mkdir()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(rgb / "x.png")
    result = run_cli("predict", "--run", trained_run, "--input", rgb, "--out", tmp_path / "p")
    assert result.code == 2 and "model expects 1" in result.stderr
    result = run_cli(
        "predict", "--run", trained_run, "--onnx", not_onnx, "--input", rgb, "--out", tmp_path / "p"
    )
    assert result.code == 2 and "not both" in result.stderr
    assert all(len(line) > 0 for line in result.stderr.strip().splitlines())
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("windows", [False, True])
def test_a_presence_head_gates_the_same_images_in_pytorch_and_onnx(
    synthetic_data, tmp_path, run_cli, windows
):
    run = tmp_path / "run"
    levers = (
        "model.presence_head=true",
        "training.ema.enabled=true",
        "training.progressive={start_scale: 0.5, until_fraction: 0.5}",
    )
    config = tiny_config("training.max_epochs=1", "data.input_size=[32, 32]", *levers)
    train(config, synthetic_data, run, quiet=True)
    predictor = Predictor([run])
    paths = sorted((synthetic_data / "images").glob("*.png"))
    presences = [predictor.prediction(predictor.image(p))[1] for p in paths]
    assert all(p is not None and 0.0 < p < 1.0 for p in presences)
    bound = round(float(np.median(presences)), 4)  # about half of the images gated
    gate = {"enabled": True, "min_presence_probability": bound}
    force_tuned(run, synthetic_data, tta=False, sliding_window=windows, empty_gate=gate)
    torch_masks, onnx_masks = predict_both_ways(run, synthetic_data, tmp_path, run_cli)
    assert sum(int((torch_masks[k] != onnx_masks[k]).sum()) for k in torch_masks) == 0
    if not windows:  # resized: the gate empties exactly the images whose presence is low
        gated = {p.stem for p, presence in zip(paths, presences, strict=True) if presence < bound}
        assert gated and all(not torch_masks[k].any() for k in gated)
