"""Whether a run had converged: the best validation Dice of its last 20 % of steps vs before."""

from __future__ import annotations

import pytest

from sparseg.training.convergence import late_gain, run_convergence, stall_warning
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
