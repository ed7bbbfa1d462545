"""Cross-validation as nnU-Net does it: out-of-fold predictions from every fold, one tuning on
all of them, a choice between configurations, and the fold ensemble as one ONNX graph."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from sparseg.data.splits import make_splits, save_split
from sparseg.errors import SparsegError
from sparseg.inference.crossval import crossval
from sparseg.inference.onnx_predict import OnnxPredictor, export_run
from sparseg.inference.onnx_runtime import OnnxModel
from sparseg.inference.out_of_fold import OutOfFoldPredictor
from sparseg.inference.predictor import Predictor
from sparseg.inference.save_probabilities import save_probabilities
from sparseg.inference.saved_run import SavedRun, quantize, write_saved_run
from sparseg.inference.selection import select
from sparseg.inference.tune import tune
from sparseg.inference.windows import uses_windows
from sparseg.run_layout import RunPaths, run_dirs
from sparseg.training import train_folds
from tests.helpers import tiny_config

SIZE = 32
IDS = [f"img{k:02d}" for k in range(12)]
FOLDS = [IDS[0:4], IDS[4:8], IDS[8:12]]
TARGET = (slice(4, 8), slice(4, 8))  # 16 px
DISTRACTOR = (slice(16, 24), slice(16, 22))  # 48 px of background


@pytest.fixture(scope="module")
def square_data(tmp_path_factory):
    """12 gray 32x32 images, each with one 4x4 target square."""
    root = tmp_path_factory.mktemp("squares")
    (root / "images").mkdir()
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for item_id in IDS:
        image = rng.integers(40, 80, (SIZE, SIZE), dtype=np.uint8)
        mask = np.zeros((SIZE, SIZE), np.uint8)
        mask[TARGET] = 255
        image[TARGET] += 60
        Image.fromarray(image).save(root / "images" / f"{item_id}.png")
        Image.fromarray(mask).save(root / "masks" / f"{item_id}.png")
    return root


def probability(target: float, distractor: float) -> np.ndarray:
    grid = np.zeros((SIZE, SIZE), np.float32)
    grid[TARGET], grid[DISTRACTOR] = target, distractor
    return grid


def write_fold_folder(folder, grids: dict[str, np.ndarray], folds=FOLDS):
    """A ``--fold all`` folder whose folds answer with saved probabilities only: fold K held
    out ``folds[K]`` and saved ``grids`` of those images."""
    config = tiny_config(f"data.input_size=[{SIZE}, {SIZE}]")
    for index, held_out in enumerate(folds):
        run = RunPaths(folder).fold(index).root
        run.mkdir(parents=True)
        train_ids = [i for i in IDS if i not in held_out]
        save_split({"train": train_ids, "val": list(held_out), "test": []}, run / "split.json")
        saved = SavedRun(
            RunPaths(run).probabilities,
            config,
            1,
            {"val": list(held_out)},
            {i: {False: quantize(grids[i]), True: quantize(grids[i])} for i in held_out},
            {i: {False: None, True: None} for i in held_out},
        )
        write_saved_run(saved)
    return folder


@pytest.fixture
def cross_validated(tmp_path):
    """Fold 0's model is unsure (target 0.35 over background at 0.2), folds 1 and 2 are sure
    but mark a large distractor at 0.6: fold 0 alone wants a threshold near 0.2, all folds
    together one above 0.6."""
    grids = {i: probability(0.35, 0.2) for i in FOLDS[0]}
    grids |= {i: probability(0.9, 0.6) for i in FOLDS[1] + FOLDS[2]}
    return write_fold_folder(tmp_path / "cv", grids)


def test_out_of_fold_union_covers_each_training_image_once(cross_validated, square_data):
    predictor = OutOfFoldPredictor([cross_validated])
    assert predictor.ids == sorted(IDS)
    for index, held_out in enumerate(FOLDS):
        for item_id in held_out:
            ((member, weight),) = predictor.members_for(item_id)  # one answer, by its fold
            fold = predictor.runs[predictor.members.index(member)]
            assert fold == RunPaths(cross_validated).fold(index).root and weight == 1
    summary = crossval(cross_validated, square_data)
    assert summary["n_images"] == len(IDS)
    assert [fold["n_images"] for fold in summary["per_fold"]] == [4, 4, 4]
    # untuned, threshold 0.5: fold 0 misses its targets, folds 1 and 2 add the distractor
    per_fold = [fold["dice_per_image_empty_is_one"] for fold in summary["per_fold"]]
    assert per_fold == pytest.approx([0.0, 0.4, 0.4])
    assert summary["fold_spread"]["max"] == pytest.approx(0.4)
    assert summary["inference"].startswith("untuned")
    written = RunPaths(cross_validated).crossval_dir
    assert len(list((written / "masks").glob("*.png"))) == len(IDS)
    assert json.loads((written / "metrics.json").read_text())["n_images"] == len(IDS)


def test_two_folds_holding_out_one_image_are_refused(tmp_path, square_data):
    folds = [IDS[0:5], IDS[4:8], IDS[8:12]]  # img04 in two folds
    grids = {i: probability(0.9, 0.0) for i in IDS}
    folder = write_fold_folder(tmp_path / "bad", grids, folds)
    with pytest.raises(SparsegError, match="fold_0 and fold_1 both held out img04"):
        crossval(folder, square_data)


def test_tuning_a_fold_folder_reads_every_folds_out_of_fold_predictions(
    cross_validated, square_data
):
    alone = tune(RunPaths(cross_validated).fold(0).root, square_data)
    assert alone["n_val_images"] == 4 and alone["inference"]["threshold"] <= 0.3
    together = tune(cross_validated, square_data)
    assert together["n_val_images"] == len(IDS)
    assert together["inference"]["threshold"] >= 0.6
    assert together["tuned_on"] == "out-of-fold predictions of 3 fold(s)"
    written = json.loads(RunPaths(cross_validated).inference.read_text())
    assert written["inference"] == together["inference"]
    # the fold ensemble predicts with the folder's decision, not fold 0's
    assert Predictor([cross_validated]).inference.threshold == together["inference"]["threshold"]
    assert crossval(cross_validated, square_data)["inference"].startswith("tuned")


def test_tune_refuses_a_split_file_whose_folds_differ_from_the_folders(
    cross_validated, square_data, tmp_path
):
    other = tmp_path / "other.json"
    save_split(make_splits(IDS, 3, 0.0, seed=5), other)
    with pytest.raises(SparsegError, match="holds out other images than"):
        tune(cross_validated, square_data, split_file=other)


def test_select_picks_the_better_configuration_and_predict_takes_it(
    cross_validated, square_data, tmp_path, run_cli
):
    good = cross_validated
    bad = write_fold_folder(tmp_path / "bad", {i: probability(0.3, 0.6) for i in IDS})
    out = tmp_path / "chosen"
    result = run_cli("select", "--run", bad, "--run", good, "--data", square_data, "--out", out)
    assert result.code == 0, result.stderr
    selection = json.loads(RunPaths(out).selection.read_text())
    assert [(out / m).resolve() for m in selection["members"]] == [good.resolve()]
    assert selection["reason"].startswith("cv: out-of-fold Dice")
    ranked = [row["candidate"] for row in selection["ranking"]]
    assert ranked[0] == "cv" and sorted(ranked) == ["bad", "bad + cv", "cv"]
    assert run_dirs([out]) == RunPaths(good).fold_runs()
    tuned = json.loads(RunPaths(out).inference.read_text())
    assert Predictor([out]).inference.threshold == tuned["inference"]["threshold"]


def test_select_refuses_configurations_cross_validated_on_other_images(
    cross_validated, square_data, tmp_path
):
    grids = {i: probability(0.9, 0.0) for i in IDS[:8]}
    other = write_fold_folder(tmp_path / "other", grids, [IDS[0:4], IDS[4:8]])
    with pytest.raises(SparsegError, match="cross-validated other images"):
        select([cross_validated, other], square_data, tmp_path / "out")


@pytest.fixture(scope="module")
def trained_folds(synthetic_data, tmp_path_factory):
    """``train --fold all`` on a 2-fold split of the synthetic set (tiny, one epoch)."""
    root = tmp_path_factory.mktemp("folds")
    ids = sorted(p.stem for p in (synthetic_data / "images").glob("*.png"))
    split = root / "split.json"
    save_split(make_splits(ids, 2, 0.25, seed=0), split)
    config = tiny_config("training.max_epochs=1", "data.input_size=[32, 32]")
    train_folds(config, synthetic_data, root / "cv", split_file=split, fold="all", quiet=True)
    return root / "cv", json.loads(split.read_text())


def test_training_all_folds_saves_each_folds_out_of_fold_probabilities(
    trained_folds, synthetic_data
):
    folder, split = trained_folds
    for index, fold in enumerate(split["folds"]):
        saved = np.load(RunPaths(folder).fold(index).probabilities)
        meta = json.loads(str(saved["meta"]))
        assert meta["subsets"] == {"val": fold["val"]}
    summary = crossval(folder, synthetic_data)
    training_ids = sorted(i for fold in split["folds"] for i in fold["val"])
    assert summary["n_images"] == len(training_ids)
    assert not set(training_ids) & set(split["test"])


def test_save_probabilities_adds_subsets_to_what_a_fold_saved(
    trained_folds, synthetic_data, run_cli
):
    folder, split = trained_folds
    result = run_cli("save-probabilities", "--run", folder, "--data", synthetic_data)
    assert result.code == 0, result.stderr
    for index, fold in enumerate(split["folds"]):
        saved = np.load(RunPaths(folder).fold(index).probabilities)
        subsets = json.loads(str(saved["meta"]))["subsets"]
        assert subsets == {"val": fold["val"], "test": split["test"]}


def test_saving_what_is_saved_and_training_a_finished_folder_again_write_nothing(
    trained_folds, synthetic_data
):
    folder, _ = trained_folds
    files = [RunPaths(run).probabilities for run in RunPaths(folder).fold_runs()]
    before = [path.stat().st_mtime_ns for path in files]
    save_probabilities(folder, synthetic_data, subsets=("val",))
    config = tiny_config("training.max_epochs=1", "data.input_size=[32, 32]")
    train_folds(config, synthetic_data, folder, split_file=folder.parent / "split.json", fold="all")
    assert [path.stat().st_mtime_ns for path in files] == before


def test_the_fold_ensembles_onnx_graph_equals_the_pytorch_ensemble(
    trained_folds, synthetic_data, tmp_path, run_cli
):
    folder, split = trained_folds
    assert tune(folder, synthetic_data)["tuned_on"].startswith("out-of-fold")
    onnx = tmp_path / "ensemble.onnx"
    result = run_cli("export", "--run", folder, "--onnx", onnx)
    assert result.code == 0, result.stderr
    torch_ensemble, onnx_ensemble = Predictor([folder]), OnnxPredictor(onnx)
    assert onnx_ensemble.meta["runs"] == 2
    single = Predictor([RunPaths(folder).fold(0).root])
    for item_id in split["test"]:
        path = synthetic_data / "images" / f"{item_id}.png"
        expected, _ = torch_ensemble.prediction(torch_ensemble.image(path))
        actual, _ = onnx_ensemble.prediction(onnx_ensemble.image(path))
        assert np.abs(expected - actual).max() < 1e-3
    first = synthetic_data / "images" / f"{split['test'][0]}.png"
    one_fold = single.probabilities(single.image(first))
    both = torch_ensemble.probabilities(torch_ensemble.image(first))
    assert np.abs(one_fold - both).max() > 1e-3  # the graph holds both folds, not one


def test_a_windowed_fold_ensemble_with_presence_heads_answers_as_in_pytorch(
    synthetic_data, tmp_path
):
    """Each fold's presence is its largest window's, then the folds are averaged: the graph
    gives each fold's weighted presence so that the ONNX path can do the same."""
    ids = sorted(p.stem for p in (synthetic_data / "images").glob("*.png"))
    split = tmp_path / "split.json"
    save_split(make_splits(ids, 2, 0.25, seed=0), split)
    config = tiny_config(
        "training.max_epochs=1",
        "data.input_size=[32, 32]",
        "model.presence_head=true",
        "inference.sliding_window=true",
    )
    folder = tmp_path / "cv"
    train_folds(config, synthetic_data, folder, split_file=split, fold="all", quiet=True)
    onnx = tmp_path / "ensemble.onnx"
    export_run(folder, onnx)
    assert OnnxModel(onnx).output_names == ["probabilities", "presence", "member_presence"]
    torch_ensemble, onnx_ensemble = Predictor([folder]), OnnxPredictor(onnx)
    assert uses_windows(onnx_ensemble.data, onnx_ensemble.inference)
    for item_id in json.loads(split.read_text())["test"]:
        path = synthetic_data / "images" / f"{item_id}.png"
        expected, expected_presence = torch_ensemble.prediction(torch_ensemble.image(path))
        actual, presence = onnx_ensemble.prediction(onnx_ensemble.image(path))
        assert np.abs(expected - actual).max() < 1e-3
        assert presence == pytest.approx(expected_presence, abs=1e-4)
