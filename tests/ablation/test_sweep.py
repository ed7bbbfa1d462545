"""Planning a sweep: shared splits, stage folders, ``--emit-commands``, changed-ladder guard."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml

from sparseg.ablation import SweepSettings, run_ablation
from sparseg.ablation.manifest import SweepManifest
from sparseg.ablation.outputs import render_markdown
from sparseg.config import dump_config, load_config
from sparseg.data.synthetic import synthesize
from sparseg.errors import SparsegError

STAGES = [
    {"name": "basic"},
    {"name": "+ tta", "overrides": {"inference.tta": True}},
    {
        "name": "+ weights",
        "overrides": {"model.encoder_weights": "/nowhere/encoder.pth"},
        "requires": "pretrained_weights",
    },
    {"name": "+ lr", "overrides": {"training.lr": 0.003}, "tune": True},
    {"name": "+ ensemble", "ensemble_folds": 3},
]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plan_data")
    synthesize(root, n=20, size=(32, 32), fg=0.05, empty=0.2, seed=1)
    return root


def write_ladder(folder: Path, stages: list) -> Path:
    base = {"model": {"encoder": "resnet18"}, "data": {"input_size": [32, 32]}}
    (folder / "base.yaml").write_text(yaml.safe_dump(base))
    path = folder / "ladder.yaml"
    path.write_text(yaml.safe_dump({"base": "base.yaml", "stages": stages}))
    return path


def test_emit_commands_prints_one_independent_line_per_training_and_seed(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    settings = SweepSettings(seeds=2, minutes_per_run=2.5, emit_commands=True)
    result = run_ablation(data, write_ladder(tmp_path, STAGES), out, settings)
    printed = capsys.readouterr().out
    assert printed.strip() == "\n".join(result.commands)
    # trainings: basic (+ tta shares it), + lr, + ensemble; + weights is skipped: 3 × 2 seeds
    assert len(result.commands) == 6
    titles = [block.splitlines()[0] for block in result.commands]
    assert titles == [  # seed-major, the ensembles (several trainings in a row) last
        "# basic, + tta · seed 0",
        "# + lr · seed 0",
        "# basic, + tta · seed 1",
        "# + lr · seed 1",
        "# + ensemble · seed 0",
        "# + ensemble · seed 1",
    ]

    steps = [shlex.split(part) for part in result.commands[0].splitlines()[1].split(" && ")]
    commands = [step[3] for step in steps]  # python -m sparseg CMD | python -c CODE HELPER
    assert commands == [
        "train",
        "settle_inference",
        "evaluate",
        "adopt_training",
        "settle_inference",
        "evaluate",
    ]
    train = steps[0]
    assert train[train.index("--config") + 1] == str(out / "01-basic" / "config.yaml")
    assert train[train.index("--out") + 1] == str(out / "01-basic" / "seed0")
    assert "seed=0" in train and "training.max_minutes=2.5" in train and "--resume" not in train
    assert steps[3][-2:] == [str(out / "01-basic" / "seed0"), str(out / "02-tta" / "seed0")]
    assert steps[-1][-2:] == ["--json", str(out / "02-tta" / "seed0" / "evaluation.json")]

    lr_line = result.commands[1].splitlines()[1]
    assert " tune --run " in lr_line and "seed=0" in lr_line
    ensemble = [shlex.split(part) for part in result.commands[4].splitlines()[1].split(" && ")]
    assert [step[3] for step in ensemble[:6]] == ["train", "save-probabilities"] * 3
    assert [step[step.index("--fold") + 1] for step in ensemble[0:6:2]] == ["0", "1", "2"]
    assert ensemble[0][ensemble[0].index("--split") + 1] == str(out / "split_3folds.json")
    assert ensemble[0][ensemble[0].index("--out") + 1] == str(
        out / "05-ensemble" / "seed0" / "fold_0"
    )
    tune = ensemble[6]
    assert tune[tune.index("--run") + 1] == str(out / "05-ensemble" / "seed0")  # out-of-fold
    assert "seed=1" in result.commands[5]
    # nothing ran
    assert not list(out.glob("*/seed*"))


def test_planning_writes_shared_splits_stage_folders_and_the_plan(
    tmp_path: Path, data: Path
) -> None:
    out = tmp_path / "sweep"
    run_ablation(
        data,
        write_ladder(tmp_path, STAGES),
        out,
        SweepSettings(seeds=2, emit_commands=True, quiet=True),
    )
    split = json.loads((out / "split.json").read_text())
    folds = json.loads((out / "split_3folds.json").read_text())
    assert folds["test"] == split["test"] and split["test"]
    validation = sorted(i for fold in folds["folds"] for i in fold["val"])
    assert validation == sorted(split["train"] + split["val"])  # each non-test id once
    for fold in folds["folds"]:
        assert sorted(fold["train"] + fold["val"]) == validation

    plan = json.loads((out / "ablation_plan.json").read_text())
    stages = {stage["slug"]: stage for stage in plan["stages"]}
    assert stages["03-weights"]["skipped"].startswith("pre-trained encoder weights cannot be")
    assert "/nowhere/encoder.pth" in stages["03-weights"]["skipped"]
    assert stages["02-tta"]["reuses"] == "01-basic" and stages["04-lr"]["reuses"] is None
    assert stages["04-lr"]["compare_to"] == "02-tta"  # the skipped stage is stepped over
    assert plan["seeds"] == [0, 1]
    config = yaml.safe_load((out / "04-lr" / "config.yaml").read_text())
    assert config["training"]["lr"] == 0.003 and config["inference"]["tta"] is True
    assert config["model"]["encoder_weights"] is None
    assert json.loads((out / "04-lr" / "stage.json").read_text())["tune"] is True


def test_a_changed_ladder_or_budget_is_refused_in_the_same_folder(
    tmp_path: Path, data: Path
) -> None:
    out = tmp_path / "sweep"
    ladder = write_ladder(tmp_path, STAGES[:2])
    run_ablation(data, ladder, out, SweepSettings(seeds=1, emit_commands=True, quiet=True))
    run_ablation(
        data, ladder, out, SweepSettings(seeds=3, emit_commands=True, quiet=True)
    )  # more seeds: fine
    with pytest.raises(SparsegError, match="minutes_per_run=None, not 5"):
        run_ablation(data, ladder, out, SweepSettings(minutes_per_run=5, emit_commands=True))
    changed = [STAGES[0], {"name": "+ tta", "overrides": {"inference.tta": False}}]
    with pytest.raises(SparsegError, match="stage '\\+ tta' changed since its runs were made"):
        run_ablation(data, write_ladder(tmp_path, changed), out, SweepSettings(emit_commands=True))


def test_a_step_budget_caps_every_training_and_is_part_of_the_plan(
    tmp_path: Path, data: Path
) -> None:
    out = tmp_path / "sweep"
    ladder = write_ladder(tmp_path, STAGES[:2])
    settings = SweepSettings(seeds=1, steps_per_run=40, emit_commands=True, quiet=True)
    result = run_ablation(data, ladder, out, settings)
    train = shlex.split(result.commands[0].splitlines()[1].split(" && ")[0])
    assert "training.max_steps=40" in train and not any("max_minutes" in arg for arg in train)
    both = SweepSettings(seeds=1, minutes_per_run=3, steps_per_run=40, emit_commands=True)
    train = shlex.split(run_ablation(data, ladder, tmp_path / "b", both).commands[0].split("\n")[1])
    assert "training.max_steps=40" in train and "training.max_minutes=3" in train
    with pytest.raises(SparsegError, match="steps_per_run=40, not 80"):
        run_ablation(data, ladder, out, SweepSettings(steps_per_run=80, emit_commands=True))
    plan = json.loads((out / "ablation_plan.json").read_text())
    assert "a budget of 40 optimizer steps per training run" in render_markdown(
        [], SweepManifest.from_json(plan)
    )


def test_bad_arguments(tmp_path: Path, data: Path) -> None:
    ladder = write_ladder(tmp_path, STAGES[:1])
    with pytest.raises(SparsegError, match="--seeds 0"):
        run_ablation(data, ladder, tmp_path / "a", SweepSettings(seeds=0))
    with pytest.raises(SparsegError, match="--minutes-per-run -1"):
        run_ablation(data, ladder, tmp_path / "b", SweepSettings(minutes_per_run=-1))
    with pytest.raises(SparsegError, match="--steps-per-run 0"):
        run_ablation(data, ladder, tmp_path / "c", SweepSettings(steps_per_run=0))
    with pytest.raises(SparsegError, match="inside the input folder"):
        run_ablation(data, ladder, data / "sweep")


def test_a_key_added_to_the_schema_at_its_default_keeps_committed_runs(tmp_path: Path) -> None:
    from sparseg.ablation.prepare import _same_config, _write_checked

    new = dump_config(load_config(None))
    old = "\n".join(line for line in new.splitlines() if "validation_thresholds" not in line)
    assert old != new and _same_config(old, new)  # a config written before the key existed
    changed = new.replace("lr: 0.0001", "lr: 0.001")
    assert changed != new and not _same_config(new, changed)
    assert not _same_config("seed: [unclosed", new)  # a damaged file: changed, no traceback
    stage = tmp_path / "01-basic"
    stage.mkdir()
    (stage / "config.yaml").write_text(old)
    (stage / "stage.json").write_text(json.dumps({"name": "basic"}))
    _write_checked(stage / "stage.json", {"name": "basic"}, new)
    assert (stage / "config.yaml").read_text() == old  # kept as its runs were made from it
    with pytest.raises(SparsegError, match="changed since its runs were made"):
        _write_checked(stage / "stage.json", {"name": "basic"}, changed)
