"""The data set fingerprint against values worked out by hand on tiny masks."""

from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from sparseg.data.fingerprint import (
    HISTOGRAM_BINS,
    ComponentsPerMask,
    Fingerprint,
    ImageSizes,
    MinMedianMax,
    fingerprint,
    format_fingerprint,
)
from sparseg.errors import SparsegError, SparsegWarning

SHARED_NERVE = Path(__file__).resolve().parents[3] / "shared" / "data" / "usgra_nerve"
BIN = 1 / HISTOGRAM_BINS
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def hand_data(tmp_path: Path, write_image) -> Path:
    """Three pairs whose every statistic is worked out in the tests below.

    a: 20x20 8-bit gray, all 0; mask: a 2x2 square (4 px) + a 3-pixel diagonal (one component
       in 8-connectivity, three in 4-connectivity) = 2 components, 7 px.
    b: 20x20 8-bit RGB, all 255; mask: a 5x4 rectangle = 1 component, 20 px.
    c: 20x30 16-bit gray (TIFF), all 13107 = 0.2; mask empty.
    """
    root = tmp_path / "hand"
    mask_a = np.zeros((20, 20), np.uint8)
    mask_a[1:3, 1:3] = 255
    mask_a[[10, 11, 12], [10, 11, 12]] = 255
    mask_b = np.zeros((20, 20), np.uint8)
    mask_b[5:10, 5:9] = 255
    write_image(root / "images" / "a.png", np.zeros((20, 20), np.uint8))
    write_image(root / "masks" / "a.png", mask_a)
    write_image(root / "images" / "b.png", np.full((20, 20, 3), 255, np.uint8))
    write_image(root / "masks" / "b.png", mask_b)
    write_image(root / "images" / "c.tif", np.full((20, 30), 13107, np.uint16))
    write_image(root / "masks" / "c.png", np.zeros((20, 30), np.uint8))
    return root


def test_hand_computed_fingerprint(hand_data: Path) -> None:
    with pytest.warns(SparsegWarning, match="c: mask is empty while all others have foreground"):
        fp = fingerprint(hand_data)
    assert fp.n_pairs == 3
    assert fp.label is None
    assert fp.image_size == ImageSizes(
        counts={"20x20": 2, "20x30": 1},
        height=MinMedianMax(min=20, median=20.0, max=20),
        width=MinMedianMax(min=20, median=20.0, max=30),
    )
    assert fp.channels == {"1": 2, "3": 1}
    assert fp.bit_depth == {"16": 1, "8": 2}

    # 1400 values: 400 zeros (a), 400 ones (b: RGB has 1200 ones!), 600 of 0.2 (c)
    values = np.concatenate([np.zeros(400), np.ones(1200), np.full(600, 0.2)])
    intensity = asdict(fp.intensity)
    assert intensity["mean"] == pytest.approx(1320 / 2200)
    assert intensity["std"] == pytest.approx(values.std())
    # sorted: 400 zeros, 600 x 0.2, 1200 ones → p1, p5: 0; p50 (rank 1100): 1; p95, p99: 1
    for key, expected in {"p1": 0.0, "p5": 0.0, "p50": 1.0, "p95": 1.0, "p99": 1.0}.items():
        assert intensity[key] == pytest.approx(expected, abs=BIN)

    fractions = fp.foreground_fraction
    assert asdict(fractions.all) == pytest.approx(
        {  # per image 7/400, 20/400, 0/600; percentiles interpolate linearly in sorted order
            "mean": (0.0175 + 0.05) / 3,
            "median": 0.0175,
            "p5": 0.1 * 0.0175,
            "p95": 0.0175 + 0.9 * (0.05 - 0.0175),
            "min": 0.0,
            "max": 0.05,
        }
    )
    assert fractions.non_empty is not None
    assert asdict(fractions.non_empty) == pytest.approx(
        {
            "mean": 0.03375,
            "median": 0.03375,
            "p5": 0.0175 + 0.05 * 0.0325,
            "p95": 0.0175 + 0.95 * 0.0325,
            "min": 0.0175,
            "max": 0.05,
        }
    )
    assert fractions.pooled == pytest.approx(27 / 1400)
    assert asdict(fp.empty_masks) == {"count": 1, "share": pytest.approx(1 / 3), "ids": ("c",)}

    components = fp.components
    assert components.per_mask == ComponentsPerMask(mean=1.0, max=2)
    assert components.total == 3
    assert asdict(components.area_px) == pytest.approx({"median": 4.0, "p5": 3.1, "min": 3.0})
    assert asdict(components.area_fraction) == pytest.approx(
        {"median": 4 / 400, "p5": 3.1 / 400, "min": 3 / 400}
    )
    assert components.smallest_per_mask_fraction == pytest.approx((3 / 400 + 20 / 400) / 2)
    assert Fingerprint.from_json(json.loads(json.dumps(fp.to_json()))) == fp  # plain JSON types


def test_label_map_masks_need_a_label(tmp_path: Path, write_image) -> None:
    labels = np.zeros((16, 16), np.uint8)
    labels[2:6, 2:6] = 1
    labels[10:12, 10:13] = 2
    write_image(tmp_path / "images" / "x.png", np.zeros((16, 16), np.uint8))
    write_image(tmp_path / "masks" / "x.png", labels)
    with pytest.raises(SparsegError, match=re.escape("x.png: mask has 3 distinct values")):
        fingerprint(tmp_path)
    fp = fingerprint(tmp_path, label=2)
    assert fp.label == 2
    assert fp.foreground_fraction.pooled == pytest.approx(6 / 256)
    assert fp.components.area_px is not None and fp.components.area_px.min == 6


def test_all_empty_masks_warn_and_leave_component_statistics_null(
    tmp_path: Path, write_image
) -> None:
    for name in ("p", "q"):
        write_image(tmp_path / "images" / f"{name}.png", np.full((8, 8), 7, np.uint8))
        write_image(tmp_path / "masks" / f"{name}.png", np.zeros((8, 8), np.uint8))
    with pytest.warns(SparsegWarning, match="all 2 masks are empty"):
        fp = fingerprint(tmp_path)
    assert fp.foreground_fraction.non_empty is None
    assert fp.foreground_fraction.pooled == 0.0
    assert fp.components.area_px is None
    assert fp.components.smallest_per_mask_fraction is None
    assert fp.empty_masks.share == 1.0
    assert "foreground, non-empty  none" in format_fingerprint(fp)


def test_many_empty_masks_are_normal_and_progress_counts_pairs(synthetic_data: Path) -> None:
    calls = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", SparsegWarning)
        fp = fingerprint(synthetic_data, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 24) for i in range(1, 25)]
    assert fp.empty_masks.count == round(24 * 0.2)
    assert fp.foreground_fraction.non_empty is not None
    assert fp.foreground_fraction.non_empty.mean == pytest.approx(0.04, abs=0.001)


def test_format_fingerprint_is_a_readable_summary(hand_data: Path) -> None:
    with pytest.warns(SparsegWarning):
        text = format_fingerprint(fingerprint(hand_data))
    lines = text.splitlines()
    assert lines[0].split() == ["pairs", "3"]
    assert "20x20: 2, 20x30: 1" in text
    assert "empty masks            1 (33.3%)" in text
    assert "mean 1.00  max 2  (total 3)" in text
    assert "mean 3.38% median 3.38% p5 1.91% p95 4.84% range 1.75-5.00%" in text
    assert "median 4  p5 3.1  min 3" in text


@pytest.mark.skipif(not SHARED_NERVE.is_dir(), reason=f"{SHARED_NERVE} not present on this machine")
def test_usgra_nerve_matches_its_source_note() -> None:
    fp = fingerprint(SHARED_NERVE)
    assert fp.n_pairs == 244
    assert fp.empty_masks.count == 0
    assert fp.foreground_fraction.all.mean == pytest.approx(0.0312, abs=0.0005)
    assert fp.image_size.counts == {"512x534": 183, "512x512": 40, "632x761": 21}
    assert fp.components.total == 331
    assert fp.components.per_mask.max == 5
    assert fp.components.area_px is not None
    assert math.isclose(fp.components.area_px.median, 4983)


@pytest.mark.parametrize("name", ["usgra_nerve", "ms_lesjak_nifti", "all_empty"])
def test_fingerprint_json_written_before_the_typed_fingerprint_round_trips(name: str) -> None:
    """The fixtures are ``sparseg inspect --json`` fingerprints (usgra_nerve, ms_lesjak_nifti;
    all_empty: two 8x8 images with empty masks) and the text ``inspect`` printed for them,
    written by the dict-returning fingerprint that :class:`Fingerprint` replaced."""
    text = (FIXTURES / f"fingerprint_{name}.json").read_text()
    raw = json.loads(text)
    fp = Fingerprint.from_json(raw)
    assert fp.to_json() == raw
    assert json.dumps(fp.to_json(), indent=2) + "\n" == text  # keys in the same order
    assert format_fingerprint(fp) + "\n" == (FIXTURES / f"fingerprint_{name}.txt").read_text()


def test_from_json_names_a_missing_field() -> None:
    raw = json.loads((FIXTURES / "fingerprint_usgra_nerve.json").read_text())
    del raw["components"]["total"]
    with pytest.raises(KeyError, match="total"):
        Fingerprint.from_json(raw)
