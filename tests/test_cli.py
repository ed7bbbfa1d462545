"""The command line: help on every command, version, config show, synth → inspect → split."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import typer
import yaml

from sparseg import __version__
from sparseg.cli import app
from sparseg.data.fingerprint import Fingerprint

ROOT = typer.main.get_command(app)
COMMANDS = sorted(
    [name for name, command in ROOT.commands.items() if not hasattr(command, "commands")]
    + [
        f"{group} {name}"
        for group, command in ROOT.commands.items()
        for name in getattr(command, "commands", {})
    ]
)


def test_version(run_cli) -> None:
    result = run_cli("--version")
    assert result.code == 0 and result.stdout.strip() == f"sparseg {__version__}"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(run_cli, command) -> None:
    result = run_cli(*command.split(), "--help")
    assert result.code == 0 and "Usage: sparseg" in result.stdout


def test_unknown_option_is_a_usage_error(run_cli) -> None:
    result = run_cli("inspect", "--nope")
    assert result.code == 2 and "No such option" in result.stderr


def test_a_failed_ablation_exits_1(run_cli, monkeypatch, tmp_path) -> None:
    import sparseg.ablation

    def failing_sweep(*args, **kwargs):
        return SimpleNamespace(failed=["basic, seed 0: train exited with 1: boom"], outputs=[])

    monkeypatch.setattr(sparseg.ablation, "run_ablation", failing_sweep)
    result = run_cli("ablate", "--data", tmp_path, "--ladder", tmp_path, "--out", tmp_path / "o")
    assert result.code == 1
    assert result.stderr.strip() == "failed: basic, seed 0: train exited with 1: boom"


def test_ablate_passes_every_option_to_the_sweep(run_cli, monkeypatch, tmp_path) -> None:
    import sparseg.ablation

    seen = []

    def recording_sweep(data, ladder, out_dir, settings):
        seen.append(settings)
        return SimpleNamespace(failed=[], outputs=[])

    monkeypatch.setattr(sparseg.ablation, "run_ablation", recording_sweep)
    args = ["--minutes-per-run", "15", "--steps-per-run", "40", "--jobs", "2", "--mixed-pace"]
    result = run_cli("ablate", "-d", tmp_path, "--ladder", tmp_path, "-o", tmp_path / "o", *args)
    assert result.code == 0
    (settings,) = seen
    assert (settings.minutes_per_run, settings.steps_per_run, settings.jobs) == (15, 40, 2)
    assert settings.mixed_pace and not settings.emit_commands and settings.launcher == "local"


def test_train_warns_when_the_run_stalled_at_its_start(run_cli, monkeypatch, tmp_path) -> None:
    import sparseg.training
    from sparseg.training.run_files import write_metrics_csv

    def stalled_training(cfg, data, out_dir, **settings):
        rows = [{"step": 10 * (k + 1), "val_dice": 0.08} for k in range(30)]
        write_metrics_csv(Path(out_dir) / "metrics.csv", rows)
        return {
            "run": {
                "best_val_dice": 0.08,
                "best_epoch": 0,
                "steps": 300,
                "stop_reason": "max_steps",
            }
        }

    monkeypatch.setattr(sparseg.training, "train_folds", stalled_training)
    (tmp_path / "run").mkdir()
    result = run_cli("train", "--data", tmp_path, "--out", tmp_path / "run")
    assert result.code == 0
    assert "validation Dice peaked at step 10 of 300" in result.stderr
    assert "did not learn" in result.stderr


def test_ctrl_c_exits_130_with_one_line(tmp_path) -> None:
    out = tmp_path / "synth"
    command = [sys.executable, "-m", "sparseg", "synth", out, "--n", "100000", "--size", "64x64"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A test runner started in the background (`nohup pytest &`) ignores SIGINT, and a child
        # inherits that: give the command the disposition a terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not any((out / "images").glob("*.png")) and time.monotonic() < deadline:
        time.sleep(0.2)  # interrupt mid-work, not during start-up
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr.strip().splitlines()[-1] == "interrupted"


def test_config_show_prints_resolved_yaml(run_cli, tmp_path) -> None:
    result = run_cli("config", "show", "--set", "training.lr=0.003")
    assert result.code == 0
    assert yaml.safe_load(result.stdout)["training"]["lr"] == 0.003
    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  lr: -1\n")
    result = run_cli("config", "show", "--config", bad)
    assert result.code == 2
    assert result.stderr.strip() == f"error: {bad}: training.lr: Input should be greater than 0"


def test_synth_inspect_split(run_cli, tmp_path) -> None:
    data = tmp_path / "data"
    result = run_cli("synth", data, "--n", 60, "--size", "64x64", "--fg", 0.03, "--empty", 0.2)
    assert result.code == 0 and len(list((data / "masks").glob("*.png"))) == 60
    result = run_cli("inspect", data, "--json", tmp_path / "fp.json")
    assert result.code == 0 and "proposed configuration" in result.stdout
    payload = json.loads((tmp_path / "fp.json").read_text())
    assert payload["fingerprint"]["n_pairs"] == 60
    assert payload["fingerprint"]["empty_masks"]["count"] == 12
    assert Fingerprint.from_json(payload["fingerprint"]).to_json() == payload["fingerprint"]
    splits = tmp_path / "splits.json"
    result = run_cli("split", data, "--folds", 3, "--group-regex", r"^(subj\d+)_", "--out", splits)
    assert result.code == 0, result.stderr
    split = json.loads(splits.read_text())
    subject = lambda i: i.split("_")[0]  # noqa: E731
    test_subjects = {subject(i) for i in split["test"]}
    for fold in split["folds"]:
        assert not test_subjects & {subject(i) for i in fold["train"] + fold["val"]}
        assert not {subject(i) for i in fold["train"]} & {subject(i) for i in fold["val"]}


def test_bad_size_and_missing_data_are_one_line(run_cli, tmp_path) -> None:
    result = run_cli("synth", tmp_path / "x", "--size", "64by64")
    assert result.code == 2 and "expected HxW" in result.stderr
    result = run_cli("inspect", tmp_path / "missing")
    assert result.code == 2 and result.stderr.count("\n") == 1 and "not found" in result.stderr


def test_augment_preview_writes_a_png(run_cli, synthetic_data, tmp_path) -> None:
    out = tmp_path / "grid.png"
    recipe = Path(__file__).parents[1] / "configs" / "recipe.yaml"
    result = run_cli(
        "augment-preview",
        "--data",
        synthetic_data,
        "--out",
        out,
        "--n",
        2,
        "--config",
        recipe,
        "--set",
        "data.input_size=[64, 64]",
    )
    assert result.code == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
