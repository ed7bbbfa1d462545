"""Helpers for the reliability suite: snapshots of folders, the one-line error contract, and a
run directory written without training."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.helpers import tiny_config

FIRST_ID = "subj00_0000"


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path → SHA-256 of every file under ``folder`` (to prove nothing changed)."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(Path(folder).rglob("*"))
        if path.is_file()
    }


def assert_one_line_error(result, *fragments: str) -> str:
    """Exit code 2, exactly one ``error:`` line on stderr containing ``fragments``, no traceback.

    ``warning:`` lines may precede it (they are part of the contract too).
    """
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if not line.startswith("warning: ")]
    assert result.code == 2, (result.code, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert len(errors) == 1 and errors[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


def write_run(run_dir: Path, *overrides: str) -> Path:
    """A run directory as training leaves it, with untrained weights (no training needed)."""
    from sparseg.config import save_config
    from sparseg.models import build_model, plain_model
    from sparseg.training.checkpoint import save_checkpoint

    config = tiny_config(*overrides)
    model = build_model(config.model, 1)
    common = {"config": config.model_dump(mode="json"), "in_channels": 1, "pos_weight": None}
    run_dir.mkdir(parents=True, exist_ok=True)
    weights = plain_model(model).state_dict()
    best = {"model": weights, "epoch": 0, "val_dice": 0.5, **common}
    save_checkpoint(run_dir / "best.ckpt", best)
    save_checkpoint(run_dir / "last.ckpt", {"model": model.state_dict(), **common})
    save_config(config, run_dir / "config.yaml")
    return run_dir
