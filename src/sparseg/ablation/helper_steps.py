"""The steps of a sweep that are not ``sparseg`` commands: a stage takes its leader's finished
training (:func:`adopt_training`), and a stage's ``inference.json`` is settled
(:func:`settle_inference`).

The local runner calls them in-process; emitted commands and SLURM scripts run them in a fresh
process through :func:`main` (``STEP ARG...``), which knows exactly the steps in :data:`STEPS`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from sparseg.ablation.ladder import apply_dotted
from sparseg.ablation.layout import STAGE_FILE
from sparseg.config import read_yaml_mapping, validate_config
from sparseg.errors import SparsegError
from sparseg.io_utils import atomic_write, atomic_write_json, read_json
from sparseg.run_layout import CONFIG_FILE, TRAINED_FILES, RunPaths


def adopt_training(source_run: str | Path, target_run: str | Path) -> None:
    """Give ``target_run`` the finished training of ``source_run`` (hard links where possible)."""
    source, target = Path(source_run), Path(target_run)
    folders = [Path("."), *sorted(p.relative_to(source) for p in RunPaths(source).fold_runs())]
    for folder in folders:
        if not RunPaths(source / folder).train_summary.is_file():
            continue
        for name in TRAINED_FILES:
            if (source / folder / name).is_file():
                _link_or_copy(source / folder / name, target / folder / name)


def _link_or_copy(source: Path, target: Path) -> None:
    def write(tmp: Path) -> None:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:  # another file system, or links not allowed: copy instead
            shutil.copyfile(source, tmp)

    atomic_write(target, write)


def settle_inference(run_dir: str | Path, stage_dir: str | Path) -> None:
    """Write the stage's ``inference.json``: tune's decisions with ``after_tune`` forced over them,
    or (untuned) the stage config's inference section, which an adopted checkpoint lacks."""
    run_dir, stage_dir = Path(run_dir), Path(stage_dir)
    stage = read_json(stage_dir / STAGE_FILE)
    raw = read_yaml_mapping(stage_dir / CONFIG_FILE)
    path = RunPaths(run_dir).inference
    if stage["tune"]:
        payload = read_json(path)
        if "decisions" not in payload:
            raise SparsegError(f"{path}: not written by `sparseg tune`; run it first")
        base = {**raw, "inference": payload["inference"]}
        forced = apply_dotted(base, stage["after_tune"], str(stage_dir))
        payload = {**payload, "inference": forced["inference"], "forced": stage["after_tune"]}
    else:
        payload = {"inference": raw.get("inference", {}), "source": "ablation stage config"}
    config = validate_config({**raw, "inference": payload["inference"]}, str(path))
    payload["inference"] = config.inference.model_dump(mode="json")
    atomic_write_json(path, payload)


STEPS: dict[str, Callable[[str, str], None]] = {
    step.__name__: step for step in (adopt_training, settle_inference)
}


def main(argv: list[str]) -> None:
    """Run the step named ``argv[0]`` on the arguments after it."""
    name, *args = argv
    STEPS[name](*args)
