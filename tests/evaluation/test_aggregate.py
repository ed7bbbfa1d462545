import math

import numpy as np
import pytest

from sparseg.errors import SparsegError
from sparseg.evaluation.aggregate import CONVENTIONS, aggregate, blank_verdict
from sparseg.evaluation.metrics import image_metrics
from sparseg.evaluation.summary import Bootstrap


def mask(*boxes):
    out = np.zeros((5, 5), dtype=bool)
    for rows, cols in boxes:
        out[rows, cols] = True
    return out


SQUARE = (slice(1, 3), slice(1, 3))
SHIFTED = (slice(1, 3), slice(2, 4))


def four_images(full=True):
    """perfect (Dice 1), half overlap (0.5), empty/empty (undefined), false alarm (0)."""
    pairs = [
        (mask(SQUARE), mask(SQUARE)),
        (mask(SHIFTED), mask(SQUARE)),
        (mask(), mask()),
        (mask(SQUARE), mask()),
    ]
    return [image_metrics(pred, truth, full=full) for pred, truth in pairs]


def test_the_four_dice_conventions_differ_as_hand_computed():
    summary = aggregate(four_images(), bootstrap=0)
    assert summary.dice_per_image_empty_is_one == pytest.approx((1 + 0.5 + 1 + 0) / 4)
    assert summary.dice_nonempty_truth == pytest.approx((1 + 0.5) / 2)
    assert summary.dice_ignore_empty == pytest.approx((1 + 0.5 + 0) / 3)
    # ΣTP = 6, ΣFP = 2 + 4, ΣFN = 2.
    assert summary.dice_pooled == pytest.approx(12 / (12 + 6 + 2))


def test_the_four_iou_conventions():
    summary = aggregate(four_images(), bootstrap=0)
    assert summary.iou_per_image_empty_is_one == pytest.approx((1 + 1 / 3 + 1 + 0) / 4)
    assert summary.iou_nonempty_truth == pytest.approx((1 + 1 / 3) / 2)
    assert summary.iou_ignore_empty == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert summary.iou_pooled == pytest.approx(6 / (6 + 6 + 2))


def test_counts_precision_recall_specificity():
    summary = aggregate(four_images(), bootstrap=0)
    assert (summary.n_images, summary.n_empty_truth) == (4, 2)
    assert (summary.n_empty_pred, summary.n_empty_both) == (1, 1)
    assert summary.precision_pooled == pytest.approx(6 / 12)
    assert summary.precision_per_image == pytest.approx((1 + 0.5 + 0) / 3)
    assert summary.recall_pooled == pytest.approx(6 / 8)
    assert summary.recall_per_image == pytest.approx((1 + 0.5) / 2)
    assert summary.specificity_pooled == pytest.approx(86 / 92)
    assert summary.specificity_per_image == pytest.approx((1 + 19 / 21 + 1 + 21 / 25) / 4)


def test_distances_are_averaged_where_defined():
    summary = aggregate(four_images(), bootstrap=0)
    assert summary.hd95_mean == pytest.approx((0 + 1) / 2)
    assert summary.hd95_count == 2
    assert summary.assd_count == 2
    assert summary.hd95_mm_mean is None


def test_object_scores_pool_all_objects():
    summary = aggregate(four_images(), bootstrap=0)
    assert (summary.n_true_objects, summary.n_pred_objects) == (2, 3)
    assert summary.object_tp == 2
    assert summary.object_precision == pytest.approx(2 / 3)
    assert summary.object_recall == pytest.approx(1.0)
    assert summary.object_f1 == pytest.approx(2 * 2 / (2 + 3))


def test_all_empty_truth_leaves_truth_based_figures_undefined():
    rows = [image_metrics(mask(), mask()), image_metrics(mask(SQUARE), mask())]
    summary = aggregate(rows, bootstrap=0)
    assert math.isnan(summary.dice_nonempty_truth)
    assert math.isnan(summary.recall_pooled) and math.isnan(summary.object_recall)
    assert summary.dice_per_image_empty_is_one == pytest.approx(0.5)
    assert summary.dice_ignore_empty == 0.0
    assert summary.dice_pooled == 0.0


def test_cheap_rows_aggregate_without_distances_or_objects():
    summary = aggregate(four_images(full=False), bootstrap=50)
    assert summary.hd95_mean is None and summary.object_f1 is None
    assert set(summary.ci) == set(CONVENTIONS)


def test_bootstrap_intervals_contain_the_estimate_and_repeat_per_seed():
    rng = np.random.default_rng(1)
    rows = []
    for _ in range(30):
        truth = np.zeros((16, 16), dtype=bool)
        if rng.random() < 0.7:
            top, left = rng.integers(2, 8, size=2)
            truth[top : top + 6, left : left + 6] = True
        rows.append(image_metrics(np.roll(truth, int(rng.integers(0, 7)), axis=1), truth))
    first = aggregate(rows, bootstrap=300, seed=3)
    assert set(first.ci) == {*CONVENTIONS, "object_f1"}
    for name, (low, high) in first.ci.items():
        assert low <= first.figure(name) <= high, name
        assert low < high, name
    assert aggregate(rows, bootstrap=300, seed=3).ci == first.ci
    assert aggregate(rows, bootstrap=300, seed=4).ci != first.ci
    assert first.bootstrap == Bootstrap(resamples=300, seed=3, confidence=0.95)


def test_no_bootstrap_gives_undefined_intervals():
    summary = aggregate(four_images(), bootstrap=0)
    assert all(math.isnan(low) and math.isnan(high) for low, high in summary.ci.values())


def test_nothing_to_aggregate_is_a_clear_error():
    with pytest.raises(SparsegError, match="no images"):
        aggregate([])


def test_every_dice_convention_is_explained():
    assert list(CONVENTIONS) == [
        "dice_per_image_empty_is_one",
        "dice_nonempty_truth",
        "dice_ignore_empty",
        "dice_pooled",
    ]
    assert all(text and "\n" not in text for text in CONVENTIONS.values())


def test_a_model_that_marks_nothing_or_almost_nothing_is_called_blank() -> None:
    def verdict(images, empty_truth, empty_pred, recall):
        return blank_verdict(
            n_images=images,
            n_empty_truth=empty_truth,
            n_empty_pred=empty_pred,
            recall_pooled=recall,
        )

    assert verdict(10, 4, 10, 0.0) == "blank"
    assert verdict(110, 56, 84, 0.027) == "nearly blank"
    assert verdict(10, 4, 4, 0.44) is None
    assert verdict(10, 10, 10, float("nan")) is None  # nothing to find, nothing found
    rows = [{"tp": 0, "fp": 0, "fn": 5, "tn": 95}, {"tp": 0, "fp": 0, "fn": 0, "tn": 100}]
    assert aggregate(rows, bootstrap=0).blank == "blank"
