"""Shared fixtures: tiny synthetic data sets, tiny configs, and an in-process CLI runner."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 synthetic ultrasound pairs of 64x64 with 20 % empty masks (written once per session)."""
    from sparseg.data.synthetic import synthesize

    root = tmp_path_factory.mktemp("synthetic")
    synthesize(root, n=24, size=(64, 64), fg=0.04, empty=0.2, seed=0)
    return root


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):
    """Run ``sparseg ARGS`` in-process; returns exit code, stdout and stderr."""
    from sparseg.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main([str(arg) for arg in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
