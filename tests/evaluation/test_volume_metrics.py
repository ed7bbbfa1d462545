"""3D per-volume metrics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sparseg.evaluation.volume_metrics import aggregate_volumes, volume_metrics

SPACING = (1.0, 1.0, 2.0)  # 2 mm³ voxels


def blobs() -> tuple[np.ndarray, np.ndarray]:
    """Truth: lesion A (2x2x2 = 8 voxels) and lesion B (1 voxel). Prediction: 4 voxels of A plus
    2 next to it (one 6-voxel component), B missed, a spurious 4-voxel component C."""
    truth = np.zeros((20, 20, 10), bool)
    pred = np.zeros_like(truth)
    truth[2:4, 2:4, 2:4] = True  # A
    truth[15, 15, 8] = True  # B
    pred[2:4, 2:4, 3:5] = True  # 4 voxels inside A (z=3), 4 voxels at z=4 outside
    pred[2:4, 2:4, 4] = False
    pred[2, 2:4, 4] = True  # 2 voxels touching A from above
    pred[10:12, 10:12, 6] = True  # C
    return pred, truth


def test_hand_computed_dice_lesions_and_volume_difference():
    pred, truth = blobs()
    assert pred.sum() == 10 and truth.sum() == 9
    row = volume_metrics(pred, truth, SPACING)
    assert (row["tp"], row["fp"], row["fn"]) == (4, 6, 5)
    assert row["dice_3d"] == pytest.approx(2 * 4 / (10 + 9))
    assert (row["n_lesions"], row["n_pred_lesions"]) == (2, 2)
    assert (row["lesions_detected"], row["pred_lesions_true"]) == (1, 1)  # B missed, C spurious
    assert row["lesion_recall"] == 0.5 and row["lesion_precision"] == 0.5
    assert row["lesion_f1"] == pytest.approx(0.5)
    assert row["truth_ml"] == pytest.approx(9 * 2 / 1000)
    assert row["abs_volume_diff_ml"] == pytest.approx(1 * 2 / 1000)


def test_diagonal_voxels_are_one_lesion_with_26_connectivity():
    truth = np.zeros((5, 5, 5), bool)
    truth[1, 1, 1] = truth[2, 2, 2] = True
    row = volume_metrics(truth, truth, (1.0, 1.0, 1.0))
    assert row["n_lesions"] == 1 and row["lesion_f1"] == 1.0 and row["dice_3d"] == 1.0


def test_distances_are_in_mm_from_the_voxel_spacing():
    pred = np.zeros((4, 4, 8), bool)
    truth = np.zeros_like(pred)
    pred[1, 1, 1] = True
    truth[1, 1, 4] = True  # 3 voxels apart along z, 2 mm each
    row = volume_metrics(pred, truth, SPACING)
    assert row["hd95_mm"] == pytest.approx(6.0) and row["assd_mm"] == pytest.approx(6.0)
    assert row["lesion_f1"] == 0.0 and row["dice_3d"] == 0.0


def test_empty_volumes_and_the_aggregate():
    pred, truth = blobs()
    empty = np.zeros_like(truth)
    hit = volume_metrics(truth, truth, SPACING)
    both_empty = volume_metrics(empty, empty, SPACING)
    assert math.isnan(both_empty["dice_3d"]) and math.isnan(both_empty["lesion_f1"])
    assert math.isnan(both_empty["hd95_mm"])
    rows = [volume_metrics(pred, truth, SPACING), hit, both_empty]
    summary = aggregate_volumes(rows)
    assert summary.n_volumes == 3
    assert summary.dice_3d_mean == pytest.approx((8 / 19 + 1.0) / 2)  # nan skipped
    assert summary.dice_3d_pooled == pytest.approx(2 * 13 / (2 * 13 + 6 + 5))
    assert summary.lesion_recall_pooled == pytest.approx(3 / 4)
    assert summary.lesion_precision_pooled == pytest.approx(3 / 4)
    assert summary.lesion_f1_mean == pytest.approx((0.5 + 1.0) / 2)
