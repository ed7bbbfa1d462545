import csv
import json
import math
import re

import numpy as np
import pytest
from PIL import Image
from rich.console import Console

from sparseg.config import EvaluationConfig
from sparseg.errors import SparsegError
from sparseg.evaluation.aggregate import CONVENTIONS
from sparseg.evaluation.score import score_arrays, score_folder
from sparseg.reporting.tables import format_metrics_table

SIZE = (12, 16)


def square(top, left, side=4, shape=SIZE):
    out = np.zeros(shape, dtype=bool)
    out[top : top + side, left : left + side] = True
    return out


# id → (truth, prediction): a hit, a half-miss, an empty/empty and a false alarm.
CASES = {
    "a": (square(2, 2), square(2, 2)),
    "b": (square(2, 2), square(2, 4)),
    "c": (np.zeros(SIZE, bool), np.zeros(SIZE, bool)),
    "d": (np.zeros(SIZE, bool), square(6, 8)),
}


def write_png(path, mask):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)


@pytest.fixture
def folders(tmp_path):
    data, preds = tmp_path / "data", tmp_path / "preds"
    for image_id, (truth, pred) in CASES.items():
        write_png(data / "images" / f"{image_id}.png", np.full(SIZE, True))
        write_png(data / "masks" / f"{image_id}.png", truth)
        write_png(preds / f"{image_id}.png", pred)
    return data, preds


def test_score_arrays_matches_hand_values():
    truths = {key: truth for key, (truth, _) in CASES.items()}
    preds = {key: pred for key, (_, pred) in CASES.items()}
    rows, summary = score_arrays(preds, truths, bootstrap=0)
    assert [row["id"] for row in rows] == ["a", "b", "c", "d"]
    assert rows[1]["dice"] == pytest.approx(0.5)
    assert summary.dice_per_image_empty_is_one == pytest.approx((1 + 0.5 + 1 + 0) / 4)
    assert summary.dice_nonempty_truth == pytest.approx(0.75)
    assert summary.dice_ignore_empty == pytest.approx(0.5)
    assert summary.dice_pooled == pytest.approx(2 * 24 / (2 * 24 + 8 + 16 + 8))
    assert summary.object_f1 == pytest.approx(2 * 2 / (2 + 3))


def test_score_arrays_cheap_path_for_tuning():
    truths = {key: truth for key, (truth, _) in CASES.items()}
    rows, summary = score_arrays(truths, truths, full=False, bootstrap=0)
    assert "hd95" not in rows[0] and summary.object_f1 is None
    assert summary.dice_ignore_empty == 1.0
    console = Console(record=True, width=250)
    console.print(format_metrics_table(summary.to_json()))
    # value, then an undefined interval without bootstrap
    assert re.search(r"dice_pooled +│ 1\.000 │ n/a +│", console.export_text())


def test_score_arrays_refuses_mismatched_ids_and_sizes():
    truths = {"a": square(2, 2), "b": square(2, 2)}
    with pytest.raises(SparsegError, match=r"no prediction for 1 of 2 id\(s\): b"):
        score_arrays({"a": square(2, 2)}, truths)
    with pytest.raises(SparsegError, match=r"1 prediction\(s\) with an id not in .*: z"):
        score_arrays({**truths, "z": square(2, 2)}, truths)
    with pytest.raises(SparsegError, match=r"^b: prediction is 12x15 \(HxW\) .* 12x16 \(HxW\)$"):
        score_arrays({"a": square(2, 2), "b": np.zeros((12, 15), bool)}, truths)


def test_score_folder_writes_csv_and_strict_json(folders, tmp_path):
    data, preds = folders
    out = tmp_path / "out"
    config = EvaluationConfig(bootstrap=200, spacing_mm=0.5)
    summary = score_folder(preds, data, out_dir=out, config=config)
    assert summary["dice_nonempty_truth"] == pytest.approx(0.75)
    assert summary["hd95_mean"] == pytest.approx(1.0)  # a: 0, b: offset 2 → mean (0 + 2) / 2
    assert summary["hd95_mm_mean"] == pytest.approx(0.5)

    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    written = json.loads((out / "metrics.json").read_text(), parse_constant=refuse)
    assert written["dice_pooled"] == pytest.approx(summary["dice_pooled"])
    assert written["conventions"] == CONVENTIONS
    assert written["ci"]["dice_pooled"][0] <= written["dice_pooled"]
    with open(out / "metrics_per_image.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["id"] for row in rows] == ["a", "b", "c", "d"]
    assert float(rows[1]["dice"]) == pytest.approx(0.5)
    assert rows[2]["dice"] == "" and rows[3]["dice"] == "0.0"
    assert float(rows[1]["hd95_mm"]) == pytest.approx(1.0)


def test_score_folder_with_ids_scores_only_those(folders):
    data, preds = folders
    summary = score_folder(preds, data, ids=["a", "d"], config=EvaluationConfig(bootstrap=0))
    assert summary["n_images"] == 2
    assert summary["dice_per_image_empty_is_one"] == pytest.approx(0.5)
    assert math.isnan(summary["ci"]["dice_pooled"][0])


def test_label_map_truth_is_reduced_to_the_label(folders):
    data, preds = folders
    labels = np.zeros(SIZE, np.uint8)
    labels[2:6, 2:6] = 2
    labels[8:10, 8:10] = 1
    Image.fromarray(labels).save(data / "masks" / "a.png")
    summary = score_folder(preds, data, ids=["a"], label=2, config=EvaluationConfig(bootstrap=0))
    assert summary["dice_pooled"] == 1.0


def test_missing_prediction_folder(folders, tmp_path):
    data, _ = folders
    with pytest.raises(SparsegError, match="nowhere: prediction folder not found"):
        score_folder(tmp_path / "nowhere", data)


def test_missing_predictions_are_counted_and_named(folders):
    data, preds = folders
    (preds / "b.png").unlink()
    (preds / "d.png").unlink()
    with pytest.raises(
        SparsegError,
        match=r"no prediction for 2 of 4 id\(s\): b, d; --present-only scores the 2 present$",
    ):
        score_folder(preds, data)


def test_present_only_scores_exactly_the_predictions_there(folders, tmp_path):
    data, preds = folders
    (preds / "b.png").unlink()
    (preds / "d.png").unlink()
    config = EvaluationConfig(bootstrap=0)
    summary = score_folder(preds, data, out_dir=tmp_path / "out", config=config, present_only=True)
    with open(tmp_path / "out/metrics_per_image.csv", encoding="utf-8") as stream:
        assert [row["id"] for row in csv.DictReader(stream)] == ["a", "c"]
    assert summary["present_only"] is True
    chosen = score_folder(preds, data, ids=["a", "b", "c"], config=config, present_only=True)
    assert chosen["dice_pooled"] == summary["dice_pooled"]
    for name in ("a", "c"):
        (preds / f"{name}.png").unlink()
    with pytest.raises(SparsegError, match=r"none of the 4 selected id\(s\) has a prediction"):
        score_folder(preds, data, present_only=True)


def test_extra_predictions_are_an_error(folders):
    data, preds = folders
    write_png(preds / "stranger.png", square(0, 0))
    with pytest.raises(SparsegError, match=r"1 prediction\(s\) with an id not in .*: stranger"):
        score_folder(preds, data, ids=["a"])


def test_selected_ids_must_exist(folders):
    data, preds = folders
    with pytest.raises(SparsegError, match=r"1 selected id\(s\) not in the data set: zz"):
        score_folder(preds, data, ids=["a", "zz"])


def test_prediction_of_another_size_names_the_file_and_both_sizes(folders, tmp_path):
    data, preds = folders
    write_png(preds / "c.png", np.zeros((6, 8), bool))
    out = tmp_path / "out"
    with pytest.raises(SparsegError, match=r"c\.png: prediction is 6x8 \(HxW\) .* 12x16 \(HxW\)"):
        score_folder(preds, data, out_dir=out)
    assert not (out / "metrics.json").exists()


def test_earlier_results_survive_a_failed_score(folders, tmp_path):
    data, preds = folders
    out = tmp_path / "out"
    score_folder(preds, data, out_dir=out, config=EvaluationConfig(bootstrap=0))
    before = (out / "metrics.json").read_text()
    (preds / "a.png").unlink()
    with pytest.raises(SparsegError):
        score_folder(preds, data, out_dir=out)
    assert (out / "metrics.json").read_text() == before


def test_output_inside_the_data_folder_is_refused(folders):
    data, preds = folders
    with pytest.raises(SparsegError, match="inside the input folder"):
        score_folder(preds, data, out_dir=data / "scores")


def test_table_shows_each_convention_with_interval_and_meaning(folders, tmp_path):
    data, preds = folders
    summary = score_folder(
        preds, data, out_dir=tmp_path / "out", config=EvaluationConfig(bootstrap=100)
    )
    console = Console(record=True, width=250)
    console.print(format_metrics_table(summary))
    text = console.export_text()
    for name, meaning in CONVENTIONS.items():
        assert name in text and meaning in text
    assert "0.750" in text  # dice_nonempty_truth
    for name in ("iou_pooled", "precision_pooled", "recall_pooled", "hd95_mean", "object_f1"):
        assert name in text
    reread = json.loads((tmp_path / "out" / "metrics.json").read_text())
    console.print(format_metrics_table(reread))
    assert "n/a" not in console.export_text()


def test_the_score_command_names_present_only_and_scores_what_is_there(folders, run_cli):
    data, preds = folders
    (preds / "b.png").unlink()
    refused = run_cli("score", "--pred", preds, "--data", data)
    assert refused.code == 2 and "--present-only scores the 3 present" in refused.stderr
    scored = run_cli("score", "--pred", preds, "--data", data, "--present-only")
    assert scored.code == 0, scored.stderr
