"""Whether a run had converged: the best validation Dice of its last 20 % of steps vs before."""

from __future__ import annotations

import json
import math

import pytest

from sparseg.ablation.collect import collect_rows
from sparseg.ablation.convergence import late_gain, run_convergence, stall_warning
from sparseg.training.run_files import write_metrics_csv


def curve(*points: tuple[int, float | None]) -> list[dict[str, str]]:
    return [
        {"step": str(step), "val_dice": "" if dice is None else str(dice)} for step, dice in points
    ]


def test_late_gain_compares_best_so_far_before_and_within_the_last_fifth() -> None:
    climbing = curve((10, 0.2), (50, 0.4), (80, 0.5), (100, 0.58))
    assert late_gain(climbing) == pytest.approx(0.08)  # best by step 80: 0.5, at the end 0.58
    flat = curve((10, 0.2), (50, 0.6), (80, 0.62), (100, 0.615))
    assert late_gain(flat) == pytest.approx(0.0)  # a dip at the end is no gain and no loss
    noisy = curve((20, 0.3), (40, None), (60, 0.61), (100, 0.612))
    assert late_gain(noisy) == pytest.approx(0.002)  # unvalidated epochs are skipped


def test_late_gain_is_undecided_without_two_validations_or_an_early_one() -> None:
    assert late_gain(curve((10, 0.3))) is None
    assert late_gain(curve((10, None), (100, 0.3))) is None
    assert late_gain(curve((90, 0.3), (100, 0.4))) is None  # both inside the last 20 %


def test_run_convergence_reads_metrics_csv(tmp_path) -> None:
    assert run_convergence(tmp_path / "metrics.csv") == (None, None)
    rows = [
        {"epoch": 0, "step": 40, "val_dice": 0.4},
        {"epoch": 1, "step": 80, "val_dice": 0.55},
        {"epoch": 2, "step": 100, "val_dice": 0.556},
    ]
    write_metrics_csv(tmp_path / "metrics.csv", rows)
    gain, converged = run_convergence(tmp_path / "metrics.csv")
    assert gain == pytest.approx(0.006) and converged is True
    rows[-1]["val_dice"] = 0.6
    write_metrics_csv(tmp_path / "metrics.csv", rows)
    assert run_convergence(tmp_path / "metrics.csv")[1] is False


def test_a_run_whose_best_came_in_its_first_tenth_and_never_rose_again_is_flagged(
    tmp_path,
) -> None:
    """The MS fold that predicted nothing: best 0.082 at step 60 of 700, flat for 53 validations."""
    path = tmp_path / "metrics.csv"
    assert stall_warning(path) is None  # no file, no verdict
    flat = [{"step": 12 * (k + 1), "val_dice": 0.0816 if k >= 4 else 0.0} for k in range(58)]
    write_metrics_csv(path, flat)
    warning = stall_warning(path)
    assert warning is not None and warning.startswith(f"{path}: validation Dice peaked at step 60 ")
    assert "never rose in the 53 validations after" in warning
    learning = [*flat[:-1], {"step": 700, "val_dice": 0.3}]  # one late rise: it learned
    write_metrics_csv(path, learning)
    assert stall_warning(path) is None
    late_peak = [{"step": 12 * (k + 1), "val_dice": 0.1 + 0.01 * min(k, 20)} for k in range(58)]
    write_metrics_csv(path, late_peak)  # best at step 252 of 696: learned, then plateaued
    assert stall_warning(path) is None
    short = flat[:12]  # best at step 60 of 144: not in the first tenth, and too few after
    write_metrics_csv(path, short)
    assert stall_warning(path) is None


def test_a_run_that_never_found_a_target_is_flagged_however_late_its_best(tmp_path) -> None:
    """usgra_nerve at AdamW 2e-3, seed 0: 12 validations, best 0.0011 at step 30 of 118."""
    path = tmp_path / "metrics.csv"
    dice = [0.0, 0.0, 0.0011, 0.0011, *[0.0] * 8]
    write_metrics_csv(path, [{"step": 10 * (k + 1), "val_dice": d} for k, d in enumerate(dice)])
    warning = stall_warning(path)
    assert warning is not None and "never reached 0.01 in 12 validations" in warning
    assert "(best 0.001 at step 30)" in warning
    write_metrics_csv(path, [{"step": 10 * (k + 1), "val_dice": 0.0} for k in range(10)])
    assert stall_warning(path) is None  # ten validations: too short a run to call it stalled
    dice[-1] = 0.02  # found the target at its last validation: it learned, late
    write_metrics_csv(path, [{"step": 10 * (k + 1), "val_dice": d} for k, d in enumerate(dice)])
    assert stall_warning(path) is None


def test_a_blank_network_is_flagged_though_its_validation_dice_rose(tmp_path) -> None:
    """ms_lesjak_flair at AdamW 2e-3, seed 0: validation Dice 0 -> 0.25 (the empty slices),
    0 on every slice with a lesion."""
    path = tmp_path / "metrics.csv"
    blank = [
        {"step": 12 * (k + 1), "val_dice": min(0.25, 0.03 * k), "val_dice_with_target": 0.0}
        for k in range(12)
    ]
    write_metrics_csv(path, blank)
    warning = stall_warning(path)
    assert warning is not None and "images with a target never reached 0.01" in warning
    assert "the 0.250 overall is the empty images" in warning
    blank[-1]["val_dice_with_target"] = 0.05  # it found lesions at last: it learned
    write_metrics_csv(path, blank)
    assert stall_warning(path) is None


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
    first, second = collect_rows(tmp_path, plan)
    assert first["epochs"] == 10 and first["steps"] == 100 and first["status"] == "done"
    assert first["converged"] == 1.0 and first["late_gain"] == pytest.approx(0.005)
    assert second["converged"] == 0.0 and second["late_gain"] == pytest.approx(0.2)
    assert first["stalled"] == second["stalled"] == 0.0
    stalled = [{"step": 12 * (k + 1), "val_dice": 0.08 if k >= 4 else 0.0} for k in range(58)]
    write_metrics_csv(tmp_path / "01-basic" / "seed1" / "metrics.csv", stalled)
    flagged = collect_rows(tmp_path, plan)[1]
    assert flagged["stalled"] == 1.0 and flagged["converged"] == 1.0  # flat, but at nothing
    never_validated = tmp_path / "01-basic" / "seed0" / "metrics.csv"
    write_metrics_csv(never_validated, [{"step": 100, "val_dice": math.nan}])
    assert math.isnan(collect_rows(tmp_path, plan)[0]["converged"])


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
    assert [row["blank"] for row in collect_rows(tmp_path, plan)] == [1.0, 0.0, 0.0, 1.0]


def test_restarts_of_the_blank_guard_are_counted_per_run(tmp_path) -> None:
    plan = {"stages": [{"name": "basic", "slug": "01-basic"}], "seeds": [0, 1]}
    for seed, restarts in ((0, []), (1, [{"step": 30, "seed": 1000004}])):
        run = tmp_path / "01-basic" / f"seed{seed}"
        run.mkdir(parents=True)
        (run / "train_summary.json").write_text(json.dumps({"steps": 100, "restarts": restarts}))
    assert [row["restarts"] for row in collect_rows(tmp_path, plan)] == [0.0, 1.0]
