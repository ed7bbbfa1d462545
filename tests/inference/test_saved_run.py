"""Saved probabilities answer for a run whose checkpoint is not here: predict, tune, evaluate and
ensemble as the model would, within the 1/255 steps they are stored in."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from sparseg.errors import SparsegError
from sparseg.inference.evaluate import evaluate_runs
from sparseg.inference.predictor import Predictor
from sparseg.inference.save_probabilities import save_probabilities
from sparseg.inference.saved_run import LEVELS, load_saved_run
from sparseg.inference.tune import tune
from sparseg.run_layout import run_dirs
from sparseg.training import train
from tests.helpers import tiny_config

STEP = 1 / LEVELS


def _train(data, root, seed, split=None):
    run = root / f"run{seed}"
    config = tiny_config(
        "training.max_epochs=1",
        "data.input_size=[32, 32]",
        "model.presence_head=true",
        f"seed={seed}",
    )
    train(config, data, run, split_file=split, quiet=True)
    return run


@pytest.fixture(scope="module")
def runs(synthetic_data, tmp_path_factory):
    """Two trained runs on one split (32x32 grid on 64x64 images, presence head), as the members
    of an ensemble are, and their saved twins."""
    root = tmp_path_factory.mktemp("saved")
    first = _train(synthetic_data, root, 0)
    live = [first, _train(synthetic_data, root, 1, split=first / "split.json")]
    saved = []
    for run in live:
        save_probabilities(run, synthetic_data, subsets=("test", "val"))
        twin = root / f"{run.name}_saved"
        twin.mkdir()
        for name in ("probabilities.npz", "split.json", "config.yaml"):
            shutil.copy(run / name, twin / name)
        saved.append(twin)
    return live, saved


def test_saved_grid_is_the_models_and_the_file_holds_both_views(runs, synthetic_data):
    live, _ = runs
    saved = load_saved_run(live[0])
    assert set(saved.subsets) == {"test", "val"} and saved.subsets["test"]
    item_id = saved.subsets["test"][0]
    grids = saved.grids[item_id]
    assert grids[False].shape == (32, 32) and grids[False].dtype == np.uint8
    assert np.abs(grids[False].astype(int) - grids[True].astype(int)).max() > 0  # TTA differs
    assert saved.presences[item_id][False] is not None


def test_saved_run_predicts_as_its_model_within_one_step(runs, synthetic_data):
    live, saved = runs
    model, twin = Predictor([live[0]]), Predictor([saved[0]])
    item_id = load_saved_run(live[0]).subsets["test"][0]
    image = model.image(synthetic_data / "images" / f"{item_id}.png")
    for cfg in (model.inference, model.inference.model_copy(update={"tta": True})):
        expected, presence = model.prediction(image, cfg)
        got, saved_presence = twin.prediction(image, cfg, item_id)
        assert got.shape == (64, 64)  # resized back to the native size
        assert np.abs(got - expected).max() <= STEP / 2 + 1e-6
        assert saved_presence == pytest.approx(presence)


def test_ensemble_of_saved_runs_averages_them(runs, synthetic_data):
    _, saved = runs
    item_id = load_saved_run(saved[0]).subsets["test"][0]
    one, two = Predictor([saved[0]]), Predictor([saved[1]])
    image = one.image(synthetic_data / "images" / f"{item_id}.png")
    first, second = (
        one.probabilities(image, item_id=item_id),
        two.probabilities(image, item_id=item_id),
    )
    assert np.abs(first - second).max() > 0.01  # two different models, or this proves nothing
    both = Predictor(saved).probabilities(image, item_id=item_id)
    assert np.allclose(both, (first + second) / 2, atol=1e-6)


def test_tune_and_evaluate_from_saved_probabilities_match_the_model(runs, synthetic_data, tmp_path):
    live, saved = runs
    from_model = tune(live[0], synthetic_data)
    from_saved = tune(saved[0], synthetic_data)
    assert [d["step"] for d in from_saved["decisions"]] == [
        d["step"] for d in from_model["decisions"]
    ]
    assert from_saved["baseline_val_dice"] == pytest.approx(
        from_model["baseline_val_dice"], abs=0.02
    )
    # The same inference settings on both, so the masks differ only by the stored steps.
    shutil.copy(live[0] / "inference.json", saved[0] / "inference.json")
    model = evaluate_runs([live[0]], synthetic_data, out_dir=tmp_path / "model")
    twin = evaluate_runs([saved[0]], synthetic_data, out_dir=tmp_path / "saved")
    assert twin["n_images"] == model["n_images"] > 0
    metric = "dice_per_image_empty_is_one"
    assert twin[metric] == pytest.approx(model[metric], abs=0.02)


def test_fold_folders_with_saved_probabilities_expand_into_an_ensemble(runs, tmp_path):
    _, saved = runs
    for index, run in enumerate(saved):
        shutil.copytree(run, tmp_path / "cv" / f"fold_{index}")
    (tmp_path / "cv" / "fold_2").mkdir()  # an unfinished fold: no model, no probabilities
    assert run_dirs([tmp_path / "cv"]) == [tmp_path / "cv" / "fold_0", tmp_path / "cv" / "fold_1"]


def test_refusals_name_the_file(runs, synthetic_data, tmp_path):
    _, saved = runs
    twin = Predictor([saved[0]])
    image = twin.image(synthetic_data / "images" / "subj00_0000.png")
    with pytest.raises(SparsegError, match=r"probabilities\.npz: no saved probabilities for nope"):
        twin.prediction(image, item_id="nope")
    with pytest.raises(SparsegError, match="an image without id"):
        twin.prediction(image)
    windows = twin.inference.model_copy(update={"sliding_window": True})
    with pytest.raises(SparsegError, match="saved with sliding_window=False"):
        twin.prediction(image, windows, "subj00_0000")
    with pytest.raises(SparsegError, match=r"no best\.ckpt; probabilities come from a model"):
        save_probabilities(saved[0], synthetic_data)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SparsegError, match=r"no best\.ckpt and no saved probabilities\.npz"):
        Predictor([tmp_path / "empty"])
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "probabilities.npz").write_bytes(b"not a zip")
    with pytest.raises(SparsegError, match=r"damaged/probabilities\.npz: not a readable"):
        Predictor([damaged])


def test_cli_saves_probabilities_and_refuses_a_bad_subset(runs, synthetic_data, run_cli):
    live, _ = runs
    path = live[1] / "probabilities.npz"
    before = path.read_bytes()
    result = run_cli(
        "save-probabilities", "--run", live[1], "--data", synthetic_data, "--subset", "tests"
    )
    assert result.code == 2 and "tests" in result.stderr and "Traceback" not in result.stderr
    assert path.read_bytes() == before  # nothing written is lost
    result = run_cli("save-probabilities", "--run", live[1], "--data", synthetic_data)
    assert result.code == 0, result.stderr
    assert "probabilities.npz" in result.stdout
    # saving the test images again keeps the validation images saved before
    assert set(load_saved_run(live[1]).subsets) == {"test", "val"}
