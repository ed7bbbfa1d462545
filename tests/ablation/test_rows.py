"""A sweep's rows: steps, epochs, convergence, stalls, blank verdicts and restarts per run."""

from __future__ import annotations

import json
import math

import pytest

from sparseg.ablation.manifest import SweepManifest
from sparseg.ablation.rows import collect_rows
from sparseg.training.run_files import write_metrics_csv


def test_sweep_rows_carry_steps_epochs_and_convergence(tmp_path) -> None:
    plan = {"stages": [{"name": "basic", "slug": "01-basic"}], "seeds": [0, 1]}
    for seed, last in ((0, 0.505), (1, 0.7)):
        run = tmp_path / "01-basic" / f"seed{seed}"
        run.mkdir(parents=True)
        summary = {"steps": 100, "epochs": 10, "images_seen": 1600, "wall_seconds": 60.0}
        (run / "train_summary.json").write_text(json.dumps(summary))
        (run / "evaluation.json").write_text(json.dumps({"n_images": 4}))
        rows = [{"step": 50, "val_dice": 0.5}, {"step": 100, "val_dice": last}]
        write_metrics_csv(run / "metrics.csv", rows)
    first, second = collect_rows(tmp_path, SweepManifest.from_json(plan))
    assert first.epochs == 10 and first.steps == 100 and first.status == "done"
    assert first.converged == 1.0 and first.late_gain == pytest.approx(0.005)
    assert second.converged == 0.0 and second.late_gain == pytest.approx(0.2)
    assert first.stalled == second.stalled == 0.0
    stalled = [{"step": 12 * (k + 1), "val_dice": 0.08 if k >= 4 else 0.0} for k in range(58)]
    write_metrics_csv(tmp_path / "01-basic" / "seed1" / "metrics.csv", stalled)
    flagged = collect_rows(tmp_path, SweepManifest.from_json(plan))[1]
    assert flagged.stalled == 1.0 and flagged.converged == 1.0  # flat, but at nothing
    never_validated = tmp_path / "01-basic" / "seed0" / "metrics.csv"
    write_metrics_csv(never_validated, [{"step": 100, "val_dice": math.nan}])
    assert math.isnan(collect_rows(tmp_path, SweepManifest.from_json(plan))[0].converged)


def test_a_run_that_marked_nothing_on_a_test_set_with_targets_is_blank(tmp_path) -> None:
    plan = {"stages": [{"name": "basic", "slug": "01-basic"}], "seeds": [0, 1, 2]}
    plan["seeds"] = [0, 1, 2, 3]
    counts = {  # seed -> (images, empty truth, empty predictions, pooled recall)
        0: (10, 4, 10, 0.0),  # predicted nothing though 6 images have a target: blank
        1: (10, 4, 3, 0.45),  # predicted something: not blank
        2: (10, 10, 10, float("nan")),  # an all-empty test set predicted empty is right
        3: (110, 56, 84, 0.027),  # MS, budget seed 1 at 15 min: under a tenth, nearly blank
    }
    for seed, (images, empty_truth, empty_pred, recall) in counts.items():
        run = tmp_path / "01-basic" / f"seed{seed}"
        run.mkdir(parents=True)
        evaluation = {"n_images": images, "n_empty_truth": empty_truth, "n_empty_pred": empty_pred}
        (run / "evaluation.json").write_text(json.dumps({**evaluation, "recall_pooled": recall}))
    assert [row.blank for row in collect_rows(tmp_path, SweepManifest.from_json(plan))] == [
        1.0,
        0.0,
        0.0,
        1.0,
    ]


def test_restarts_of_the_blank_guard_are_counted_per_run(tmp_path) -> None:
    plan = {"stages": [{"name": "basic", "slug": "01-basic"}], "seeds": [0, 1]}
    for seed, restarts in ((0, []), (1, [{"step": 30, "seed": 1000004}])):
        run = tmp_path / "01-basic" / f"seed{seed}"
        run.mkdir(parents=True)
        (run / "train_summary.json").write_text(json.dumps({"steps": 100, "restarts": restarts}))
    assert [row.restarts for row in collect_rows(tmp_path, SweepManifest.from_json(plan))] == [
        0.0,
        1.0,
    ]
