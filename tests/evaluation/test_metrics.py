import math

import numpy as np
import pytest

from sparseg.evaluation.metrics import image_metrics


def mask(shape=(5, 5), *boxes):
    out = np.zeros(shape, dtype=bool)
    for rows, cols in boxes:
        out[rows, cols] = True
    return out


SQUARE = (slice(1, 3), slice(1, 3))
SHIFTED = (slice(1, 3), slice(2, 4))


def test_partial_overlap_matches_hand_counts():
    row = image_metrics(mask((5, 5), SHIFTED), mask((5, 5), SQUARE))
    assert (row["tp"], row["fp"], row["fn"], row["tn"]) == (2, 2, 2, 19)
    assert row["dice"] == pytest.approx(4 / 8)
    assert row["iou"] == pytest.approx(2 / 6)
    assert row["precision"] == pytest.approx(2 / 4)
    assert row["recall"] == pytest.approx(2 / 4)
    assert row["specificity"] == pytest.approx(19 / 21)
    assert row["hd95"] == pytest.approx(1.0)


def test_empty_truth_and_empty_prediction_is_undefined_not_perfect():
    row = image_metrics(mask(), mask())
    assert (row["tp"], row["fp"], row["fn"], row["tn"]) == (0, 0, 0, 25)
    for name in ("dice", "iou", "precision", "recall", "hd95", "assd"):
        assert math.isnan(row[name]), name
    assert row["specificity"] == 1.0
    assert (row["n_true_objects"], row["n_pred_objects"], row["object_tp"]) == (0, 0, 0)


def test_empty_truth_with_a_prediction_scores_zero():
    pred = mask((5, 5), (slice(0, 1), slice(0, 3)))
    row = image_metrics(pred, mask())
    assert (row["tp"], row["fp"], row["fn"], row["tn"]) == (0, 3, 0, 22)
    assert row["dice"] == 0.0 and row["iou"] == 0.0 and row["precision"] == 0.0
    assert math.isnan(row["recall"])
    assert row["specificity"] == pytest.approx(22 / 25)
    assert math.isnan(row["hd95"]) and math.isnan(row["assd"])
    assert (row["n_true_objects"], row["n_pred_objects"], row["object_tp"]) == (0, 1, 0)


def test_missed_truth_with_an_empty_prediction_scores_zero():
    row = image_metrics(mask(), mask((5, 5), SQUARE))
    assert (row["tp"], row["fp"], row["fn"], row["tn"]) == (0, 0, 4, 21)
    assert row["dice"] == 0.0 and row["iou"] == 0.0 and row["recall"] == 0.0
    assert math.isnan(row["precision"])
    assert row["specificity"] == 1.0
    assert math.isnan(row["hd95"])


def test_specificity_is_undefined_when_truth_fills_the_image():
    full = np.ones((4, 4), dtype=bool)
    row = image_metrics(full, full)
    assert math.isnan(row["specificity"]) and row["dice"] == 1.0


def test_identical_masks_are_perfect():
    truth = mask((9, 9), (slice(2, 7), slice(3, 6)))
    row = image_metrics(truth, truth)
    assert row["dice"] == row["iou"] == row["precision"] == row["recall"] == 1.0
    assert row["hd95"] == 0.0 and row["assd"] == 0.0


@pytest.mark.parametrize("offset", [1, 2, 3, 5])
@pytest.mark.parametrize("axis", [0, 1])
def test_hd95_of_a_square_offset_by_k_pixels_is_k(offset, axis):
    truth = np.zeros((40, 40), dtype=bool)
    truth[10:22, 10:22] = True
    pred = np.roll(truth, offset, axis=axis)
    row = image_metrics(pred, truth, spacing=0.5)
    assert row["hd95"] == pytest.approx(offset)
    assert row["hd95_mm"] == pytest.approx(offset * 0.5)


def test_assd_averages_both_directions_over_all_surface_points():
    truth = mask((11, 11), (slice(5, 6), slice(5, 6)))
    pred = mask((11, 11), (slice(5, 6), slice(5, 6)), (slice(5, 6), slice(9, 10)))
    row = image_metrics(pred, truth, spacing=2.0)
    # pred→truth distances [0, 4], truth→pred [0]: HD95 = max(P95([0, 4]), 0) = 3.8.
    assert row["hd95"] == pytest.approx(3.8)
    assert row["assd"] == pytest.approx(4 / 3)
    assert row["assd_mm"] == pytest.approx(8 / 3)


def test_distances_in_mm_only_with_spacing():
    row = image_metrics(mask((5, 5), SQUARE), mask((5, 5), SQUARE))
    assert "hd95_mm" not in row and "assd_mm" not in row


def test_object_detection_two_true_components_one_found():
    top_left = (slice(0, 2), slice(0, 2))
    bottom_right = (slice(6, 8), slice(6, 8))
    truth = mask((8, 8), top_left, bottom_right)
    row = image_metrics(mask((8, 8), top_left), truth)
    assert (row["n_true_objects"], row["n_pred_objects"], row["object_tp"]) == (2, 1, 1)


def test_object_match_needs_iou_at_threshold():
    truth = mask((6, 6), (slice(0, 2), slice(0, 2)))
    pred = mask((6, 6), (slice(1, 2), slice(1, 5)))  # 1 px shared, union 4 + 4 - 1 = 7
    assert image_metrics(pred, truth, object_iou=1 / 7)["object_tp"] == 1
    assert image_metrics(pred, truth, object_iou=0.15)["object_tp"] == 0


def test_objects_are_eight_connected():
    diagonal = np.eye(4, dtype=bool)
    row = image_metrics(diagonal, diagonal)
    assert row["n_true_objects"] == row["n_pred_objects"] == row["object_tp"] == 1


def test_one_prediction_detects_at_most_one_true_object():
    truth = mask((4, 8), (slice(0, 2), slice(0, 2)), (slice(0, 2), slice(3, 5)))
    pred = mask((4, 8), (slice(0, 2), slice(0, 5)))  # IoU 0.4 with each true square
    row = image_metrics(pred, truth, object_iou=0.1)
    assert (row["n_true_objects"], row["n_pred_objects"], row["object_tp"]) == (2, 1, 1)


def test_matching_is_greedy_by_iou_one_to_one():
    # Prediction A overlaps truth 1 (IoU 1/9) and truth 2 (IoU 3/12); prediction B overlaps only
    # truth 2 (IoU 1/11). Greedy takes A–2 first, which leaves neither A–1 nor B–2: one match.
    truth = mask((3, 12), (slice(0, 1), slice(0, 4)), (slice(0, 3), slice(6, 9)))
    pred = mask((3, 12), (slice(0, 1), slice(3, 9)), (slice(2, 3), slice(8, 11)))
    row = image_metrics(pred, truth, object_iou=0.05)
    assert (row["n_true_objects"], row["n_pred_objects"], row["object_tp"]) == (2, 2, 1)


def test_cheap_path_skips_distances_and_objects():
    row = image_metrics(mask((5, 5), SQUARE), mask((5, 5), SHIFTED), full=False)
    assert set(row) == {"tp", "fp", "fn", "tn", "dice", "iou", "precision", "recall", "specificity"}


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="shape"):
        image_metrics(np.zeros((4, 4), bool), np.zeros((4, 5), bool))
