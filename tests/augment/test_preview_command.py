"""``sparseg augment-preview`` reads the data set as training does (``data.label`` included)."""

from __future__ import annotations

import numpy as np
from PIL import Image


def write_label_map_data(root) -> None:
    """Four 32² pairs whose masks are label maps 0/1/2 (label 2 is the target)."""
    rng = np.random.default_rng(0)
    for folder in ("images", "masks"):
        (root / folder).mkdir(parents=True)
    for index in range(4):
        image = rng.integers(0, 255, (32, 32), dtype=np.uint8)
        labels = np.zeros((32, 32), np.uint8)
        labels[4:12, 4:12] = 1
        labels[16:24, 10 + index : 18 + index] = 2
        Image.fromarray(image).save(root / "images" / f"case{index}.png")
        Image.fromarray(labels).save(root / "masks" / f"case{index}.png")


def test_preview_of_label_map_data_uses_data_label(tmp_path, run_cli) -> None:
    data = tmp_path / "data"
    write_label_map_data(data)
    out = tmp_path / "grid.png"
    result = run_cli(
        "augment-preview",
        "--data",
        data,
        "--out",
        out,
        "--n",
        "2",
        "--set",
        "data.label=2",
        "--set",
        "data.input_size=[32, 32]",
    )
    assert result.code == 0, result.stderr
    assert Image.open(out).size[0] > 0


def test_preview_samples_hold_the_chosen_label_only(tmp_path) -> None:
    from sparseg.augment.preview import preview_batch
    from tests.helpers import tiny_config

    data = tmp_path / "data"
    write_label_map_data(data)
    config = tiny_config("data.label=2", "data.input_size=[32, 32]", "data.normalize=none")
    images, masks = preview_batch(config, data, n=3)
    assert images.shape == (3, 1, 32, 32) and masks.shape == (3, 1, 32, 32)
    assert int(masks[0].sum()) == 64  # the 8x8 square of label 2, not label 1's
