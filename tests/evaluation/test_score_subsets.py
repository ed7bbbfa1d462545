"""``sparseg score --subset``: every subset name works, an unknown one is a one-line error."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tests.reliability.support import assert_one_line_error


@pytest.fixture
def scored(synthetic_data, tmp_path):
    """The data set's own masks as predictions, and a split file over its ids."""
    ids = sorted(path.stem for path in (synthetic_data / "masks").glob("*.png"))
    pred = tmp_path / "pred"
    pred.mkdir()
    for image_id in ids:
        mask = np.array(Image.open(synthetic_data / "masks" / f"{image_id}.png"))
        Image.fromarray(mask).save(pred / f"{image_id}.png")
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ids[:16], "val": ids[16:20], "test": ids[20:]}))
    return pred, split, ids


@pytest.mark.parametrize(("subset", "count"), [("all", 24), ("train", 16), ("val", 4)])
def test_score_selects_the_subset(scored, synthetic_data, run_cli, subset, count) -> None:
    pred, split, _ = scored
    result = run_cli(
        "score", "--pred", pred, "--data", synthetic_data, "--split", split, "--subset", subset
    )
    assert result.code == 0, result.stderr
    assert f"{count} images" in result.stdout


def test_an_unknown_subset_is_refused(scored, synthetic_data, run_cli) -> None:
    pred, split, _ = scored
    result = run_cli(
        "score",
        "--pred",
        pred,
        "--data",
        synthetic_data,
        "--split",
        split,
        "--subset",
        "everything",
    )
    assert_one_line_error(result, "--subset 'everything': expected one of test, val, train, all")
