import numpy as np
import pytest

from sparseg.config import EmptyGateConfig
from sparseg.errors import SparsegError
from sparseg.inference.gate import apply_empty_gate

# One component of 3 pixels that touch only at corners (8-connected), one of 2 pixels.
MASK = np.array(
    [
        [1, 0, 0, 0, 0],
        [0, 1, 0, 0, 0],
        [0, 0, 1, 0, 0],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 1, 1],
    ],
    dtype=bool,
)
PROBABILITY = np.where(MASK, 0.7, 0.1)


def test_disabled_gate_returns_the_mask():
    cfg = EmptyGateConfig(enabled=False, min_max_probability=0.9, min_component_area=10)
    assert apply_empty_gate(MASK, PROBABILITY, cfg) is MASK


def test_weak_maximum_probability_empties_the_mask():
    cfg = EmptyGateConfig(enabled=True, min_max_probability=0.75)
    result = apply_empty_gate(MASK, PROBABILITY, cfg)
    assert result.shape == MASK.shape and result.dtype == bool
    assert not result.any()
    kept = apply_empty_gate(
        MASK, PROBABILITY, EmptyGateConfig(enabled=True, min_max_probability=0.7)
    )
    np.testing.assert_array_equal(kept, MASK)


def test_small_largest_component_empties_the_mask():
    emptied = apply_empty_gate(
        MASK, PROBABILITY, EmptyGateConfig(enabled=True, min_component_area=4)
    )
    assert not emptied.any()
    # the diagonal counts as one 3-pixel component, so a minimum of 3 keeps the mask
    kept = apply_empty_gate(MASK, PROBABILITY, EmptyGateConfig(enabled=True, min_component_area=3))
    np.testing.assert_array_equal(kept, MASK)


def test_enabled_gate_at_zero_levels_keeps_everything():
    empty = np.zeros((3, 3), dtype=bool)
    cfg = EmptyGateConfig(enabled=True)
    np.testing.assert_array_equal(apply_empty_gate(MASK, PROBABILITY, cfg), MASK)
    assert not apply_empty_gate(empty, np.zeros((3, 3)), cfg).any()


def test_weak_presence_probability_empties_the_mask():
    cfg = EmptyGateConfig(enabled=True, min_presence_probability=0.5)
    assert not apply_empty_gate(MASK, PROBABILITY, cfg, presence=0.3).any()
    np.testing.assert_array_equal(apply_empty_gate(MASK, PROBABILITY, cfg, presence=0.6), MASK)


def test_presence_and_maximum_together_empty_when_either_is_weak():
    cfg = EmptyGateConfig(enabled=True, min_presence_probability=0.5, min_max_probability=0.75)
    assert not apply_empty_gate(MASK, PROBABILITY, cfg, presence=0.9).any()  # max p 0.7
    cfg = EmptyGateConfig(enabled=True, min_presence_probability=0.5, min_max_probability=0.6)
    np.testing.assert_array_equal(apply_empty_gate(MASK, PROBABILITY, cfg, presence=0.9), MASK)
    assert not apply_empty_gate(MASK, PROBABILITY, cfg, presence=0.4).any()


def test_a_presence_bound_without_a_presence_head_is_refused():
    cfg = EmptyGateConfig(enabled=True, min_presence_probability=0.5)
    with pytest.raises(SparsegError, match="model has no presence head"):
        apply_empty_gate(MASK, PROBABILITY, cfg, presence=None)
