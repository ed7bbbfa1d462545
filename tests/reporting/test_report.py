"""The HTML report on hand-made run folders: every section, missing inputs, bad inputs."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from sparseg.config import dump_config
from sparseg.errors import SparsegError
from sparseg.reporting.report import CONTENT_SECURITY_POLICY, render_report
from tests.helpers import tiny_config

# id -> (truth pixels, predicted pixels) on an 8x8 image; Dice by hand
CASES = {
    "a": ([(1, 1), (1, 2)], [(1, 1), (1, 2)]),  # 1.0
    "b": ([(2, 2), (2, 3)], [(2, 2)]),  # 2·1 / (2 + 1) = 0.667
    "c": ([(3, 3)], [(5, 5)]),  # 0.0
    "d": ([], []),  # both empty: no Dice
}
DICE = {"a": "1.0", "b": "0.6666666666666666", "c": "0.0", "d": ""}


def write_png(path, array) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def mask(pixels) -> np.ndarray:
    out = np.zeros((8, 8), np.uint8)
    for y, x in pixels:
        out[y, x] = 255
    return out


def make_data(root) -> None:
    for index, (case_id, (truth, _)) in enumerate(CASES.items()):
        write_png(root / "images" / f"{case_id}.png", np.full((8, 8), 40 * index, np.uint8))
        write_png(root / "masks" / f"{case_id}.png", mask(truth))


def make_run(run, data=None) -> None:
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(dump_config(tiny_config("model.encoder=resnet18<x>")))
    (run / "metrics.csv").write_text(
        "epoch,step,train_loss,val_dice,lr,seconds,images_per_s\n"
        "0,2,0.9,0.1,0.001,1,5\n1,4,0.8,,0.001,1,5\n2,6,0.7,0.3,0.0001,1,5\n"
    )
    summary = {
        "best_epoch": 2,
        "best_val_dice": 0.3,
        "epochs": 3,
        "steps": 6,
        "images_seen": 24,
        "wall_seconds": 3.5,
        "stop_reason": "max_epochs",
    }
    (run / "train_summary.json").write_text(json.dumps(summary))
    decisions = [
        {
            "step": "tta",
            "setting": "8-fold <D4>",
            "dice_without": 0.2,
            "dice_with": 0.19,
            "kept": False,
        },
        {
            "step": "threshold",
            "setting": "threshold 0.3",
            "dice_without": 0.2,
            "dice_with": 0.25,
            "kept": True,
        },
    ]
    inference = {
        "decisions": decisions,
        "baseline_val_dice": 0.2,
        "tuned_val_dice": 0.25,
        "n_val_images": 3,
        "criterion": "dice_per_image_empty_is_one",
    }
    (run / "inference.json").write_text(json.dumps(inference))
    evaluation = run / "eval_test"
    metrics = {
        "n_images": 4,
        "n_empty_truth": 1,
        "n_empty_pred": 1,
        "subset": "test",
        "dice_per_image_empty_is_one": 0.6666666,
        "dice_nonempty_truth": 0.5555555,
        "dice_ignore_empty": 0.5555555,
        "dice_pooled": 0.6666666,
        "iou_pooled": 0.5,
        "object_f1": None,
        "hd95_mean": 1.23456,
        "ci": {"dice_per_image_empty_is_one": [0.25, 1.0], "dice_pooled": [None, 0.9]},
        "bootstrap": {"resamples": 50, "seed": 0, "confidence": 0.95},
    }
    if data is not None:
        metrics["data_root"] = str(data)
    evaluation.mkdir()
    (evaluation / "metrics.json").write_text(json.dumps(metrics))
    rows = "".join(f"{case_id},{DICE[case_id]}\n" for case_id in CASES)
    (evaluation / "metrics_per_image.csv").write_text("id,dice\n" + rows)
    for case_id, (_, pred) in CASES.items():
        write_png(evaluation / "masks" / f"{case_id}.png", mask(pred))


@pytest.fixture
def run_and_data(tmp_path):
    make_data(tmp_path / "data")
    make_run(tmp_path / "run")
    return tmp_path / "run", tmp_path / "data"


def embedded_images(html: str) -> list[Image.Image]:
    encoded = re.findall(r'<img[^>]* src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    return [Image.open(io.BytesIO(base64.b64decode(item))) for item in encoded]


def section(html: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', html, re.S)
    assert match, anchor
    return match.group(1)


def test_full_report(run_and_data, tmp_path) -> None:
    run, data = run_and_data
    out = render_report(run, tmp_path / "out" / "report.html", data_root=data)
    assert out == tmp_path / "out" / "report.html"
    html = out.read_text()
    assert f'content="{CONTENT_SECURITY_POLICY}"' in html
    assert not re.search(r'(src|href)="(?!data:image/png;base64,|#)', html)
    anchors = re.findall(r'<a href="#(\w+)">', html)
    assert anchors == ["config", "training", "metrics", "cases", "tuning"]

    config = section(html, "config")
    assert "<td>encoder</td><td>resnet18&lt;x&gt;</td>" in config
    assert "<td>loss</td><td>0.5 × dice + 0.5 × bce</td>" in config
    assert "<details><summary>full resolved config.yaml</summary><pre>seed: 0" in config

    training = section(html, "training")
    assert "<td>images seen</td><td>24</td>" in training
    assert "<td>best validation Dice</td><td>0.300</td>" in training
    assert "threshold 0.5" in training
    assert [image.size for image in embedded_images(training)] == [(1100, 320)]

    metrics = section(html, "metrics")
    assert "<caption>test: 4 images, 1 with empty ground truth, 1 predicted empty; 95 % " in metrics
    for row in (
        "<td><code>dice_per_image_empty_is_one</code></td><td>0.667</td><td>0.250 – 1.000</td>",
        "<td><code>dice_nonempty_truth</code></td><td>0.556</td><td></td>",
        "<td><code>dice_pooled</code></td><td>0.667</td><td>n/a</td>",
        "<td><code>hd95_mean</code></td><td>1.23</td>",
        "<td><code>object_f1</code></td><td>n/a</td><td></td><td>objects (8-connected) matched "
        "one-to-one at IoU ≥ 0.1,",
    ):
        assert row in metrics, row
    assert "precision_pooled" not in metrics  # not in this metrics.json
    assert "--subset val" in metrics and "--subset test" not in metrics

    cases = section(html, "cases")
    titles = re.findall(r"<h4>(.*?)</h4>", cases)
    assert titles == ["a — Dice 1.000", "b — Dice 0.667", "c — Dice 0.000"]
    assert cases.index("<h3>best</h3>") < cases.index("b — ") < cases.index("<h3>worst</h3>")
    panels = embedded_images(cases)
    assert len(panels) == 9 and all(panel.size == (8, 8) for panel in panels)
    truth_panel_of_a = np.asarray(panels[1].convert("RGB"))
    assert (truth_panel_of_a[1, 1] != truth_panel_of_a[0, 0]).any()

    tuning = section(html, "tuning")
    assert "<td>8-fold &lt;D4&gt;</td><td>0.2000</td><td>0.1900</td><td>no</td>" in tuning
    assert "validation Dice 0.2000 → 0.2500" in tuning


def test_the_data_root_can_come_from_metrics_json(tmp_path) -> None:
    make_data(tmp_path / "data")
    make_run(tmp_path / "run", data=tmp_path / "data")
    html = render_report(tmp_path / "run", tmp_path / "report.html").read_text()
    assert len(embedded_images(section(html, "cases"))) == 9


def test_without_a_data_root_the_cases_ask_for_one(run_and_data, tmp_path) -> None:
    run, _ = run_and_data
    html = render_report(run, tmp_path / "report.html").read_text()
    cases = section(html, "cases")
    assert "pass --data ROOT" in cases and "<img" not in cases


def test_a_fresh_run_gets_a_note_in_every_section(tmp_path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(dump_config(tiny_config()))
    html = render_report(run, tmp_path / "report.html").read_text()
    assert "<img" not in html
    assert "No train_summary.json yet" in section(html, "training")
    assert "No epochs in metrics.csv yet: run sparseg train." in section(html, "training")
    assert "No test evaluation yet: run sparseg evaluate" in section(html, "metrics")
    assert "No evaluation yet: run sparseg evaluate" in section(html, "cases")
    assert "No inference.json yet: run sparseg tune" in section(html, "tuning")


def test_ablation_chart_and_table(run_and_data, tmp_path) -> None:
    run, _ = run_and_data
    ablation = tmp_path / "ablation"
    write_png(ablation / "ablation.png", np.zeros((5, 7), np.uint8))
    (ablation / "ablation.md").write_text(
        "| stage | Dice |\n|---|---|\n| basic | 0.48 ± 0.02 |\n| <b>bold</b> | 0.5 |\n"
    )
    html = render_report(run, tmp_path / "report.html", ablation_dir=ablation).read_text()
    assert '<a href="#ablation">Ablation</a>' in html
    part = section(html, "ablation")
    assert [image.size for image in embedded_images(part)] == [(7, 5)]
    assert "<td>basic</td>\n<td>0.48 ± 0.02</td>" in part
    assert "&lt;b&gt;bold&lt;/b&gt;" in part and "<b>" not in part


def test_ablation_files_not_there_yet(run_and_data, tmp_path) -> None:
    run, _ = run_and_data
    ablation = tmp_path / "ablation"
    ablation.mkdir()
    (ablation / "ablation.png").write_text("not a png")
    part = section(
        render_report(run, tmp_path / "r.html", ablation_dir=ablation).read_text(), "ablation"
    )
    assert "No ablation.png (a PNG image)" in part and "No ablation.md" in part
    assert "<img" not in part


def test_bad_run_folder(tmp_path) -> None:
    with pytest.raises(SparsegError, match=r"missing: run folder not found"):
        render_report(tmp_path / "missing", tmp_path / "report.html")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SparsegError, match=r"empty: not a sparseg run"):
        render_report(tmp_path / "empty", tmp_path / "report.html")


def test_bad_arguments_and_files(run_and_data, tmp_path) -> None:
    run, _ = run_and_data
    with pytest.raises(SparsegError, match=r"nowhere: data folder not found"):
        render_report(run, tmp_path / "report.html", data_root=tmp_path / "nowhere")
    with pytest.raises(SparsegError, match=r"elsewhere: ablation folder not found"):
        render_report(run, tmp_path / "report.html", ablation_dir=tmp_path / "elsewhere")
    with pytest.raises(SparsegError, match=r"is a folder; give the HTML file"):
        render_report(run, tmp_path)
    (run / "inference.json").write_text("{torn")
    with pytest.raises(SparsegError, match=r"inference\.json: not valid JSON"):
        render_report(run, tmp_path / "report.html")
    assert not (tmp_path / "report.html").exists()


def test_rewrites_an_old_report_without_leaving_temporary_files(run_and_data, tmp_path) -> None:
    run, _ = run_and_data
    out = tmp_path / "site" / "report.html"
    out.parent.mkdir()
    out.write_text("old")
    render_report(run, out)
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert [path.name for path in out.parent.iterdir()] == ["report.html"]
