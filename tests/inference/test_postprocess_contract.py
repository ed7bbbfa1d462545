"""Every post-processing step keeps the same contract; a new step is one entry in
``POSTPROCESS_STEPS`` plus its "on" value in ``ON_VALUES`` here (volume steps, after them, are
in ``VOLUME_POSTPROCESS_STEPS``; tests/inference/test_volume_postprocess.py)."""

from __future__ import annotations

import numpy as np
import pytest

from sparseg.config import PostprocessConfig
from sparseg.inference.postprocess import (
    POSTPROCESS_STEPS,
    VOLUME_POSTPROCESS_STEPS,
    postprocess,
)

ON_VALUES = {"min_object_size": 5, "closing_radius": 1, "keep_largest": True, "fill_holes": True}


def blobs() -> np.ndarray:
    mask = np.zeros((24, 24), bool)
    mask[2:10, 2:10] = True
    mask[5, 5] = False  # a hole
    mask[15:17, 15:17] = True  # a small second object
    return mask


def test_the_steps_are_the_schema_fields_and_each_has_a_test_value() -> None:
    fields = list(PostprocessConfig.model_fields)
    assert list(POSTPROCESS_STEPS) + list(VOLUME_POSTPROCESS_STEPS) == fields
    assert set(ON_VALUES) == set(POSTPROCESS_STEPS)


@pytest.mark.parametrize("field", list(POSTPROCESS_STEPS))
class TestPostprocessStep:
    def test_off_by_default(self, field) -> None:
        mask = blobs()
        off = getattr(PostprocessConfig(), field)
        assert np.array_equal(POSTPROCESS_STEPS[field](mask.copy(), off), mask)

    def test_on_changes_the_mask_and_stays_boolean(self, field) -> None:
        mask = blobs()
        result = postprocess(mask, PostprocessConfig(**{field: ON_VALUES[field]}))
        assert result.dtype == bool and result.shape == mask.shape
        assert not np.array_equal(result, mask)
        assert np.array_equal(mask, blobs())  # the input is left alone

    def test_empty_stays_empty(self, field) -> None:
        empty = np.zeros((16, 16), bool)
        result = postprocess(empty, PostprocessConfig(**{field: ON_VALUES[field]}))
        assert not result.any()
