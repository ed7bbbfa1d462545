"""Fixtures for the reliability suite: a private copy of the synthetic data and a run directory
with an (untrained) checkpoint."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.reliability.support import write_run


@pytest.fixture
def dataset(synthetic_data: Path, tmp_path: Path) -> Path:
    """A writable copy of the session's 24-pair synthetic data set (64x64)."""
    return Path(shutil.copytree(synthetic_data, tmp_path / "data"))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only run directory (copy it before changing anything in it)."""
    return write_run(tmp_path_factory.mktemp("runs") / "run")


@pytest.fixture
def run_copy(trained_run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(trained_run, tmp_path / "run"))
