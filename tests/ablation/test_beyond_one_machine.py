"""Sweeps beyond one machine: the SLURM job-array script, one GPU per parallel run, and a sweep
carried to another machine without its checkpoints."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
import yaml

from sparseg.ablation import SweepSettings, local, render_ablation, run_ablation
from sparseg.data.synthetic import synthesize
from sparseg.errors import SparsegError
from sparseg.inference.saved_run import load_saved_run
from tests.ablation.test_sweep import write_ladder


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("launcher_data")
    synthesize(root, n=20, size=(32, 32), fg=0.05, empty=0.2, seed=1)
    return root


STAGES = [
    {"name": "basic"},
    {"name": "+ tta", "overrides": {"inference.tta": True}},
    {"name": "+ lr", "overrides": {"training.lr": 0.003}, "tune": True},
]


def _case(text: str, index: int) -> tuple[str, list[list[str]]]:
    """Array task ``index`` of a written sbatch script: its label and its commands' words."""
    label, command = text.split(f"\n  {index})  # ")[1].splitlines()[:2]
    return label, [shlex.split(part) for part in command.split(" && ")]


def _submit(script: Path, tmp_path: Path) -> list[list[str]]:
    """Run ``submit.sh`` with a stand-in ``sbatch`` that records its arguments."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "sbatch_calls"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "sbatch"
    fake.write_text(f'#!/bin/bash\necho "$@" >> {calls}\necho "4242;cluster"\n')
    fake.chmod(0o755)
    calls.unlink(missing_ok=True)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    subprocess.run(["bash", str(script)], env=env, check=True, capture_output=True)
    return [line.split() for line in calls.read_text().splitlines()]


def test_slurm_trains_each_model_in_its_own_task_and_finishes_each_unit_after_its_own(
    tmp_path: Path, data: Path
) -> None:
    out, ladder = tmp_path / "sweep", write_ladder(tmp_path, STAGES)
    settings = SweepSettings(seeds=2, minutes_per_run=1.5, launcher="slurm", quiet=True)
    result = run_ablation(data, ladder, out, settings)
    script, submit = out / "sweep.sbatch", out / "submit.sh"
    assert result.outputs == [script, submit]
    text = script.read_text()
    assert "#SBATCH --job-name=sparseg-ladder" in text and "#SBATCH --array" not in text
    assert f"#SBATCH --output={out / 'slurm-%A_%a.log'}" in text
    # units (basic, + tta) and + lr, for 2 seeds: four trainings, then four finishing tasks
    assert text.count("    ;;") == 8
    label, steps = _case(text, 0)
    assert label == "basic, + tta · seed 0: train" and [s[3] for s in steps] == ["train"]
    assert "training.max_minutes=1.5" in steps[0]
    label, steps = _case(text, 4)
    assert label == "basic, + tta · seed 0: finish"
    assert [s[3] for s in steps] == [
        "settle_inference",
        "evaluate",
        "adopt_training",
        "settle_inference",
        "evaluate",
    ]
    assert [s[3] for s in _case(text, 5)[1]] == ["tune", "settle_inference", "evaluate"]
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    assert _submit(submit, tmp_path) == [
        ["--parsable", "--array=0-3", str(script)],
        *([f"--array={4 + k}", f"--dependency=afterok:4242_{k}", str(script)] for k in range(4)),
    ]

    # seed 0's first unit finished: the next scripts leave it out
    for stage in ("01-basic", "02-tta"):
        (out / stage / "seed0").mkdir(parents=True, exist_ok=True)
        (out / stage / "seed0" / "evaluation.json").write_text("{}")
    run_ablation(data, ladder, out, settings)
    text = script.read_text()
    assert text.count("    ;;") == 6 and "basic, + tta · seed 0" not in text


def test_slurm_trains_an_ensembles_unfinished_folds_side_by_side(
    tmp_path: Path, data: Path
) -> None:
    """Each fold still to train is its own task (resumed where it has a last.ckpt); a fold whose
    model and probabilities came is left out; the ensemble is tuned and evaluated after all."""
    stages = [{"name": "ensemble", "tune": True, "ensemble_folds": 3}]
    out, ladder = tmp_path / "sweep", write_ladder(tmp_path, stages)
    settings = SweepSettings(seeds=1, launcher="slurm", quiet=True)
    run_ablation(data, ladder, out, settings)
    unit = out / "01-ensemble" / "seed0"
    for fold in ("fold_1", "fold_2"):
        (unit / fold).mkdir(parents=True)
    for name in ("train_summary.json", "probabilities.npz"):
        (unit / "fold_1" / name).write_text("{}")
    (unit / "fold_2" / "last.ckpt").write_text("partial")
    run_ablation(data, ladder, out, settings)
    text = (out / "sweep.sbatch").read_text()
    assert text.count("    ;;") == 3
    label, steps = _case(text, 0)
    assert label == "ensemble · seed 0 · fold_0: train"
    assert [s[3] for s in steps] == ["train", "save-probabilities"] and "--resume" not in steps[0]
    label, steps = _case(text, 1)
    assert label == "ensemble · seed 0 · fold_2: train" and "--resume" in steps[0]
    assert [s[3] for s in _case(text, 2)[1]] == ["tune", "settle_inference", "evaluate"]
    assert _submit(out / "submit.sh", tmp_path)[1] == [
        "--array=2",
        "--dependency=afterok:4242_0:4242_1",
        str(out / "sweep.sbatch"),
    ]


def test_slurm_writes_nothing_when_every_run_is_done_and_refuses_unknown_launchers(
    tmp_path, data
) -> None:
    ladder, out = write_ladder(tmp_path, STAGES[:1]), tmp_path / "sweep"
    settings = SweepSettings(seeds=1, launcher="slurm", quiet=True)
    run_ablation(data, ladder, out, settings)
    (out / "01-basic" / "seed0").mkdir(parents=True)
    (out / "01-basic" / "seed0" / "evaluation.json").write_text("{}")
    (out / "sweep.sbatch").unlink()
    assert run_ablation(data, ladder, out, settings).outputs == []
    assert not (out / "sweep.sbatch").exists()
    with pytest.raises(SparsegError, match="--launcher pbs"):
        run_ablation(data, ladder, tmp_path / "sweep", SweepSettings(launcher="pbs"))


def test_parallel_runs_get_one_gpu_each_round_robin(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    slots = local.device_slots(jobs=3)
    assert [slots.get() for _ in range(3)] == ["0", "1", "0"]
    assert local.device_slots(jobs=1) is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert local.device_slots(jobs=4) is None


def test_each_command_sees_only_its_gpu(tmp_path: Path, monkeypatch) -> None:
    seen = {}

    def fake_run(command, stdin, stdout, stderr, env):
        seen["devices"] = env.get("CUDA_VISIBLE_DEVICES")
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(local.subprocess, "run", fake_run)
    sweep = local.LocalPool(jobs=1, quiet=True, devices=None)

    class FakeRun:
        label, run_dir = "[x · seed 0]", tmp_path / "run"

    sweep._command(FakeRun(), ["evaluate", "--run", "x"], device="1")
    assert seen["devices"] == "1"


def _tiny_training(tmp_path: Path) -> None:
    base = yaml.safe_load((tmp_path / "base.yaml").read_text())
    base["training"] = {"max_epochs": 1, "batch_size": 4, "patience": None}
    base["evaluation"] = {"bootstrap": 10}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))


def _commit(out: Path) -> None:
    """Leave what a commit keeps of a sweep: no checkpoints, no tb/."""
    for path in [*out.rglob("*.ckpt"), *out.rglob("tb")]:
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def _mtimes(folder: Path, pattern: str) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for path in folder.rglob(pattern)}


def test_a_sweep_carried_without_checkpoints_finishes_and_renders(tmp_path: Path, data) -> None:
    """What a commit keeps of a sweep (no *.ckpt, no tb/) is enough to render it again, and to
    finish it elsewhere: finished units are left alone; a single-model unit with an unfinished
    stage trains again and evaluates all its stages on the new model, so paired stages share one
    model."""
    stages = [{"name": "basic"}, {"name": "+ tta", "overrides": {"inference.tta": True}}]
    ladder, out = write_ladder(tmp_path, stages), tmp_path / "sweep"
    _tiny_training(tmp_path)
    settings = SweepSettings(seeds=2, quiet=True)
    run_ablation(data, ladder, out, settings)
    _commit(out)
    table = (out / "ablation.md").read_text()
    (out / "ablation.md").unlink()
    render_ablation(out)
    assert (out / "ablation.md").read_text() == table
    kept = _mtimes(out / "01-basic" / "seed0", "*.json")
    (out / "02-tta" / "seed1" / "evaluation.json").unlink()
    result = run_ablation(data, ladder, out, settings)
    assert not result.failed
    assert _mtimes(out / "01-basic" / "seed0", "*.json") == kept
    for stage in ("01-basic", "02-tta"):
        assert (out / stage / "seed1" / "best.ckpt").is_file()  # seed 1's unit trained again
    assert not (out / "01-basic" / "seed0" / "best.ckpt").exists()
    assert [row.status for row in result.rows] == ["done"] * 4


def test_an_ensemble_cut_off_finishes_elsewhere_fold_by_fold(tmp_path: Path, data) -> None:
    """An ensemble's folds train one by one and each saves its probabilities (on the test images
    and on the validation images it held out: the ensemble is tuned on all folds' out-of-fold
    predictions). Carried without checkpoints, the ensemble trains only the fold that had not
    finished, and is tuned and evaluated from the others' probabilities."""
    stages = [{"name": "ensemble", "tune": True, "ensemble_folds": 2}]
    ladder, out = write_ladder(tmp_path, stages), tmp_path / "sweep"
    _tiny_training(tmp_path)
    settings = SweepSettings(seeds=1, quiet=True)
    run_ablation(data, ladder, out, settings)
    unit = out / "01-ensemble" / "seed0"
    first, second = unit / "fold_0", unit / "fold_1"
    saved = [load_saved_run(fold).subsets for fold in (first, second)]
    assert set(saved[0]) == set(saved[1]) == {"val", "test"}
    assert not set(saved[0]["val"]) & set(saved[1]["val"])  # each fold's own held-out images
    _commit(out)
    # cut off while fold 1 trained: its model, and everything after it, never came
    for path in (second / "train_summary.json", second / "probabilities.npz"):
        path.unlink()
    (unit / "evaluation.json").unlink()
    (unit / "inference.json").unlink()
    fold0 = _mtimes(first, "*.npz") | _mtimes(first, "train_summary.json")
    result = run_ablation(data, ladder, out, settings)
    assert not result.failed and result.rows[0].status == "done"
    assert _mtimes(first, "*.npz") | _mtimes(first, "train_summary.json") == fold0
    assert not (first / "best.ckpt").exists() and (second / "best.ckpt").is_file()
    assert (second / "probabilities.npz").is_file()
    tuned = json.loads((unit / "inference.json").read_text())
    assert "decisions" in tuned and tuned["tuned_on"] == "out-of-fold predictions of 2 fold(s)"
    assert json.loads((unit / "evaluation.json").read_text())["n_images"] > 0


def test_a_sweep_moved_to_another_machine_finds_its_data_and_split_elsewhere(
    tmp_path: Path, data: Path
) -> None:
    """Another machine keeps the data set and the split at other paths: the same folder name and
    the same split contents are the same sweep; another split is refused."""
    ladder, out = write_ladder(tmp_path, STAGES[:1]), tmp_path / "sweep"
    split = tmp_path / "split.json"
    ids = sorted(path.stem for path in (data / "images").iterdir())
    split.write_text(json.dumps({"train": ids[:12], "val": ids[12:16], "test": ids[16:]}))
    settings = SweepSettings(seeds=1, split_file=split, emit_commands=True, quiet=True)
    run_ablation(data, ladder, out, settings)
    elsewhere = tmp_path / "other_machine"
    moved_data = elsewhere / "shared" / data.name
    shutil.copytree(data, moved_data)
    moved_split = elsewhere / "split.json"
    shutil.copy(split, moved_split)
    moved = SweepSettings(seeds=1, split_file=moved_split, emit_commands=True, quiet=True)
    result = run_ablation(moved_data, ladder, out, moved)
    assert str(moved_data) in result.commands[0] and str(data) + " " not in result.commands[0]
    moved_split.write_text(json.dumps({"train": ids[:10], "val": ids[10:16], "test": ids[16:]}))
    with pytest.raises(SparsegError, match="holds a sweep made with split_digest="):
        run_ablation(moved_data, ladder, out, moved)
    renamed = elsewhere / "another_set"
    shutil.copytree(data, renamed)
    with pytest.raises(SparsegError, match="holds a sweep made with data="):
        run_ablation(renamed, ladder, out, settings)
