"""The error contract in a real process (``python -m sparseg``), not only in-process: exit 2, one
``error:`` line, no traceback; ``--debug`` adds the traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.support import FIRST_ID, snapshot


def sparseg(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("COLUMNS", None)  # long paths must stay on one line at the default width
    return subprocess.run(
        [sys.executable, "-m", "sparseg", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_clean_failure(done: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()]  # one line
    assert done.stderr.startswith("error: ") and fragment in done.stderr


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("missing_mask", f"images/{FIRST_ID}.png: image without a mask"),
        ("unknown_key", "config.yaml: training.lrr: unknown key"),
        ("conflicting_flags", "give either --run (one or more) or --onnx, not both"),
    ],
)
def test_one_line_without_traceback(dataset, tmp_path, case, fragment):
    if case == "missing_mask":
        (dataset / "masks" / f"{FIRST_ID}.png").unlink()
        args: tuple[object, ...] = ("inspect", dataset)
    elif case == "unknown_key":
        (tmp_path / "config.yaml").write_text("training:\n  lrr: 0.1\n")
        args = ("config", "show", "--config", "config.yaml")
    else:
        (tmp_path / "m.onnx").write_bytes(b"x")
        args = ("predict", "--run", ".", "--onnx", "m.onnx", "--input", dataset, "--out", "p")
    before = snapshot(dataset)
    assert_clean_failure(sparseg(*args, cwd=tmp_path), fragment)
    assert snapshot(dataset) == before


def test_debug_shows_the_traceback(tmp_path):
    done = sparseg("--debug", "inspect", tmp_path / "missing", cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback (most recent call last)" in done.stderr
    assert "sparseg.errors.SparsegError" in done.stderr
    last_line = done.stderr.rstrip().splitlines()[-1]
    assert last_line == f"error: {tmp_path / 'missing'}: data folder not found"
