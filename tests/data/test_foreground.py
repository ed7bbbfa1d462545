import pytest

from sparseg.data.pos_weight import POS_WEIGHT_RANGE, pos_weight_from_counts


@pytest.mark.parametrize(
    ("foreground", "total", "expected"),
    [(1, 11, 10.0), (3, 10, 2.3), (1, 100_000, POS_WEIGHT_RANGE[1]), (9, 10, POS_WEIGHT_RANGE[0])],
)
def test_the_weight_is_the_clipped_background_ratio_to_one_decimal(
    foreground, total, expected
) -> None:
    assert pos_weight_from_counts(foreground, total) == expected


def test_no_foreground_leaves_bce_unweighted() -> None:
    assert pos_weight_from_counts(0, 1000) is None
