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
    """A run directory as training leaves it, with untrained weights (no training needed); the
    checkpoints are built by the training code's own payload functions."""
    from lightning_fabric.plugins import Precision

    from sparseg.config import save_config
    from sparseg.models import build_model, plain_model
    from sparseg.models.checkpoint import save_checkpoint
    from sparseg.run_layout import RunPaths
    from sparseg.training.run_state import RunState, best_payload, common_payload, save_last
    from sparseg.training.schedule import LRSchedule
    from sparseg.training.setup import build_optimizer

    config = tiny_config(*overrides)
    model = build_model(config.model, 1)
    common = common_payload(config, in_channels=1, pos_weight=None)
    paths = RunPaths(run_dir)
    paths.root.mkdir(parents=True, exist_ok=True)
    weights = plain_model(model).state_dict()
    save_checkpoint(paths.best, best_payload(weights, 0, 0.5, common))
    optimizer = build_optimizer(config, list(model.parameters()))
    schedule = LRSchedule(config.training, 0.0)
    state = RunState(epoch=1, step=1)
    save_last(paths.last, model, optimizer, schedule, Precision(), state=state, common=common)
    save_config(config, paths.config)
    return run_dir
