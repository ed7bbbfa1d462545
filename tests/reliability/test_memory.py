"""Memory does not grow with the data set: building a run's data (pairs, split, train and val
sets) on 200 pairs reads no pixels; each item reads only its own files.

tests/data/test_dataset.py checks the dataset classes alone; this covers the training set-up
path end to end, counting reads at the source (``sparseg.data.io``) and in every module that
imported the readers by name.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import sparseg.data.io as io_module
from sparseg.data.synthetic import synthesize
from sparseg.training.setup import load_run_data, run_selection
from tests.helpers import tiny_config

N_ITEMS = 200


@pytest.fixture(scope="module")
def large_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("large")
    synthesize(root, n=N_ITEMS, size=(32, 32), fg=0.05, empty=0.2, seed=0)
    return root


@pytest.fixture
def pixel_reads(monkeypatch) -> dict[str, int]:
    """Count read_image/read_mask calls wherever the functions are bound."""
    counts = {"read_image": 0, "read_mask": 0}
    for name in counts:
        original = getattr(io_module, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            counts[_name] += 1
            return _original(*args, **kwargs)

        for module in list(sys.modules.values()):
            if getattr(module, "__name__", "").startswith("sparseg") and (
                getattr(module, name, None) is original
            ):
                monkeypatch.setattr(module, name, counted)
    return counts


@pytest.mark.parametrize("mode", ["resize", "patch"])
def test_run_data_on_200_pairs_reads_no_pixels(large_data, tmp_path, pixel_reads, mode):
    config = tiny_config("data.input_size=[32, 32]", f"data.mode={mode}")
    data = load_run_data(config, run_selection(config, large_data, tmp_path / "run"))
    assert len(data.items) == N_ITEMS
    assert len(data.split.train) + len(data.split.val) + len(data.split.test) == N_ITEMS
    assert pixel_reads == {"read_image": 0, "read_mask": 0}
    data.train[0]
    data.val[0]
    assert pixel_reads == {"read_image": 2, "read_mask": 2}
