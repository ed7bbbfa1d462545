"""The typed scores and their ``metrics.json`` form."""

import json

import numpy as np
import pytest

from sparseg.evaluation.aggregate import CONVENTIONS, aggregate
from sparseg.evaluation.metrics import image_metrics
from sparseg.evaluation.volume_metrics import LESION_MATCHING, aggregate_volumes, volume_metrics


def rows(full: bool) -> list[dict]:
    truth = np.zeros((12, 12), bool)
    truth[2:6, 2:6] = True
    pred = np.roll(truth, 1, axis=1)
    return [image_metrics(pred, truth, full=full), image_metrics(truth, truth, full=full)]


def test_full_scores_give_every_figure_and_plain_json():
    payload = aggregate(rows(full=True), bootstrap=20).to_json()
    assert {"hd95_mean", "assd_count", "object_f1", "n_true_objects"} <= set(payload)
    assert "hd95_mm_mean" not in payload  # no spacing given: not computed, so not written
    assert payload["blank"] is None
    assert set(payload["ci"]) == {*CONVENTIONS, "object_f1"}
    assert all(isinstance(interval, list) for interval in payload["ci"].values())
    assert payload["bootstrap"] == {"resamples": 20, "seed": 0, "confidence": 0.95}
    assert json.loads(json.dumps(payload)) == payload


def test_cheap_scores_leave_distances_and_objects_out():
    scores = aggregate(rows(full=False), bootstrap=0)
    payload = scores.to_json()
    assert not {"hd95_mean", "object_f1", "n_true_objects"} & set(payload)
    assert scores.figure("dice_pooled") == payload["dice_pooled"]


def test_a_figure_is_named_or_refused():
    scores = aggregate(rows(full=False), bootstrap=0)
    assert scores.figure("n_images") == 2.0
    with pytest.raises(KeyError, match="not computed"):
        scores.figure("object_f1")
    with pytest.raises(KeyError, match="no figure 'ci'"):
        scores.figure("ci")


def test_volume_scores_keep_their_rows_and_matching_rule():
    truth = np.zeros((4, 8, 8), bool)
    truth[1:3, 2:5, 2:5] = True
    row = {"case": "c1", **volume_metrics(truth, truth, (1.0, 1.0, 1.0))}
    scores = aggregate_volumes([row])
    payload = scores.to_json()
    assert payload["per_volume"] == [row]
    assert payload["lesion_matching"] == LESION_MATCHING
    assert payload["n_volumes"] == 1 and payload["dice_3d_pooled"] == 1.0
