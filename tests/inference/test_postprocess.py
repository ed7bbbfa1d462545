import numpy as np

from sparseg.config import PostprocessConfig
from sparseg.inference.postprocess import postprocess


def grid(rows: str) -> np.ndarray:
    """A boolean mask from lines of '#' (foreground) and '.' (background)."""
    return np.array([[char == "#" for char in line] for line in rows.split()], dtype=bool)


OBJECTS_OF_3_4_AND_5 = grid(
    """
    ###......
    .........
    ####.....
    .........
    ....#.#..
    .....#...
    ....#.#..
    """
)  # the X is 5 pixels touching only at corners: one object under 8-connectivity


def test_removes_objects_smaller_than_the_minimum_and_keeps_that_size():
    result = postprocess(OBJECTS_OF_3_4_AND_5, PostprocessConfig(min_object_size=4))
    expected = OBJECTS_OF_3_4_AND_5.copy()
    expected[0] = False
    np.testing.assert_array_equal(result, expected)


def test_minimum_size_above_every_object_empties_the_mask():
    result = postprocess(OBJECTS_OF_3_4_AND_5, PostprocessConfig(min_object_size=6))
    assert not result.any()


def test_minimum_size_of_zero_or_one_changes_nothing():
    for size in (0, 1):
        result = postprocess(OBJECTS_OF_3_4_AND_5, PostprocessConfig(min_object_size=size))
        np.testing.assert_array_equal(result, OBJECTS_OF_3_4_AND_5)


def test_closing_fills_a_one_pixel_gap_and_a_pinhole():
    two_bars = grid(
        """
        ###.###
        ###.###
        ###.###
        """
    )
    assert postprocess(two_bars, PostprocessConfig(closing_radius=1)).all()
    block = np.zeros((9, 9), dtype=bool)
    block[2:7, 2:7] = True
    pierced = block.copy()
    pierced[4, 4] = False
    np.testing.assert_array_equal(postprocess(pierced, PostprocessConfig(closing_radius=1)), block)


def test_closing_does_not_erode_objects_at_the_border():
    corner = np.zeros((8, 8), dtype=bool)
    corner[:3, :3] = True
    np.testing.assert_array_equal(postprocess(corner, PostprocessConfig(closing_radius=2)), corner)


def test_keep_largest_component():
    result = postprocess(OBJECTS_OF_3_4_AND_5, PostprocessConfig(keep_largest=True))
    expected = OBJECTS_OF_3_4_AND_5.copy()
    expected[:4] = False
    np.testing.assert_array_equal(result, expected)


def test_keep_largest_breaks_ties_by_raster_order_and_keeps_empty_empty():
    two_equal = grid(
        """
        ##...
        .....
        ...##
        """
    )
    expected = two_equal.copy()
    expected[2] = False
    np.testing.assert_array_equal(
        postprocess(two_equal, PostprocessConfig(keep_largest=True)), expected
    )
    empty = np.zeros((4, 4), dtype=bool)
    assert not postprocess(empty, PostprocessConfig(keep_largest=True)).any()


def test_fill_holes_fills_enclosed_background_only():
    ring_and_cup = grid(
        """
        ###...#.#
        #.#...#.#
        ###...###
        """
    )
    expected = ring_and_cup.copy()
    expected[1, 1] = True  # the cup's inside touches the border: not a hole
    result = postprocess(ring_and_cup, PostprocessConfig(fill_holes=True))
    np.testing.assert_array_equal(result, expected)


def test_all_steps_in_order_and_input_untouched():
    mask = grid(
        """
        #.........
        ..#####...
        ..#.#.#...
        ..#####...
        ..........
        .......##.
        """
    )
    original = mask.copy()
    cfg = PostprocessConfig(min_object_size=2, closing_radius=0, keep_largest=True, fill_holes=True)
    expected = grid(
        """
        ..........
        ..#####...
        ..#####...
        ..#####...
        ..........
        ..........
        """
    )
    np.testing.assert_array_equal(postprocess(mask, cfg), expected)
    np.testing.assert_array_equal(mask, original)


def test_default_config_changes_nothing():
    result = postprocess(OBJECTS_OF_3_4_AND_5, PostprocessConfig())
    assert result.dtype == bool
    np.testing.assert_array_equal(result, OBJECTS_OF_3_4_AND_5)
