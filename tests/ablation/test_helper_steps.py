"""The sweep's steps between sparseg commands: adopting a leader's training, settling inference."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from sparseg.ablation.helper_steps import adopt_training, settle_inference
from sparseg.ablation.plan import shell


def test_adopt_training_links_the_trained_files(tmp_path: Path) -> None:
    source, target = tmp_path / "a", tmp_path / "b"
    for folder in (source / "fold_0", source / "fold_1"):
        folder.mkdir(parents=True)
        for name in ("best.ckpt", "config.yaml", "train_summary.json", "last.ckpt"):
            (folder / name).write_text(name)
    adopt_training(source, target)
    assert sorted(p.name for p in (target / "fold_1").iterdir()) == [
        "best.ckpt",
        "config.yaml",
        "train_summary.json",
    ]
    assert os.path.samefile(source / "fold_0" / "best.ckpt", target / "fold_0" / "best.ckpt")


def test_settle_inference_forces_keys_over_tuning_or_writes_the_stage_config(
    tmp_path: Path,
) -> None:
    stage_dir, run_dir = tmp_path / "stage", tmp_path / "run"
    stage_dir.mkdir()
    run_dir.mkdir()
    (stage_dir / "config.yaml").write_text(yaml.safe_dump({"inference": {"threshold": 0.7}}))
    stage = {"tune": False, "after_tune": {}}
    (stage_dir / "stage.json").write_text(json.dumps(stage))
    settle_inference(run_dir, stage_dir)
    payload = json.loads((run_dir / "inference.json").read_text())
    assert payload["inference"]["threshold"] == 0.7 and payload["source"] == "ablation stage config"

    stage = {"tune": True, "after_tune": {"inference.postprocess.fill_holes": True}}
    (stage_dir / "stage.json").write_text(json.dumps(stage))
    with pytest.raises(Exception, match="not written by `sparseg tune`"):
        settle_inference(run_dir, stage_dir)
    tuned = {"inference": {"threshold": 0.2, "tta": True}, "decisions": [{"step": "tta"}]}
    (run_dir / "inference.json").write_text(json.dumps(tuned))
    settle_inference(run_dir, stage_dir)
    settle_inference(run_dir, stage_dir)  # idempotent
    payload = json.loads((run_dir / "inference.json").read_text())
    assert (payload["inference"]["threshold"], payload["inference"]["tta"]) == (0.2, True)
    assert payload["inference"]["postprocess"]["fill_holes"] is True
    assert payload["decisions"] == [{"step": "tta"}]


def test_an_emitted_helper_command_runs_its_step(tmp_path: Path) -> None:
    source, target = tmp_path / "a", tmp_path / "b"
    source.mkdir()
    for name in ("best.ckpt", "train_summary.json"):
        (source / name).write_text(name)
    command = shell([adopt_training.__name__, str(source), str(target)], helper=True)
    subprocess.run(shlex.split(command), check=True)
    assert sorted(p.name for p in target.iterdir()) == ["best.ckpt", "train_summary.json"]
