"""A ladder stage with ``pretrain``: each seed's weights are made once by ``sparseg pretrain`` (its
test cases left out) and every model of the stage and of the stages built on it starts from
them; the field-guide ladder's pre-trained stage is no longer skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sparseg.ablation import SweepSettings, run_ablation
from sparseg.ablation.ladder import load_ladder
from sparseg.data.synthetic import synthesize
from sparseg.errors import SparsegError
from tests.ablation.test_runner import TINY, FakeCommands, write_ladder

REPO = Path(__file__).resolve().parents[2]
PRETRAINED = {"name": "+ in-domain weights", "pretrain": {"steps": 3}}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pretrain_sweep_data")
    synthesize(root, n=16, size=(64, 64), fg=0.04, empty=0.2, seed=0)
    return root


class FakeWithPretrain(FakeCommands):
    def __call__(self, run, args: list[str]) -> None:
        super().__call__(run, args)
        if args[0] == "pretrain":
            weights = Path(args[args.index("--out") + 1])
            weights.parent.mkdir(parents=True, exist_ok=True)
            weights.write_text("weights")


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def sets(args: list[str]) -> list[str]:
    return [args[i + 1] for i, arg in enumerate(args) if arg == "--set"]


def test_each_seed_pretrains_once_and_later_stages_start_from_its_weights(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeWithPretrain().install(monkeypatch)
    stages = [{"name": "basic"}, PRETRAINED, {"name": "+ ensemble", "ensemble_folds": 2}]
    out = tmp_path / "sweep"
    result = run_ablation(
        data, write_ladder(tmp_path, stages), out, SweepSettings(seeds=2, quiet=True)
    )
    assert result.failed == []
    by_seed = {
        seed: [(where, args) for where, args in fake.calls if where.endswith(f"seed{seed}")]
        for seed in (0, 1)
    }
    for seed, calls in by_seed.items():
        names = [(where.split("/")[0], args[0]) for where, args in calls]
        assert names.count(("02-in-domain-weights", "pretrain")) == 1
        pretrain, *again = [args for _, args in calls if args[0] == "pretrain"]
        weights = option(pretrain, "--out")
        # planned before the field guide's weights were made, the ensemble asks for the same file:
        # --resume finds that pretraining finished and repeats nothing
        assert [option(args, "--out") for args in again] == [weights] * len(again)
        assert all("--resume" in args for args in (pretrain, *again))
        assert Path(weights).parent == out / "pretrained" and weights.endswith(f"-seed{seed}.pth")
        assert option(pretrain, "--steps") == "3" and f"seed={seed}" in sets(pretrain)
        assert option(pretrain, "--split") == str(out / "split.json")
        trainings = [(where, args) for where, args in calls if args[0] == "train"]
        assert len(trainings) == 4  # basic, the pretrained stage, two ensemble folds
        assert f"model.pretrained_weights={weights}" not in sets(trainings[0][1])
        assert all(f"model.pretrained_weights={weights}" in sets(args) for _, args in trainings[1:])
    plan = json.loads((out / "ablation_plan.json").read_text())
    assert [stage.get("skipped") for stage in plan["stages"]] == [None, None, None]
    facts = json.loads((out / "02-in-domain-weights" / "stage.json").read_text())
    assert facts["pretrain"] == {"steps": 3}
    assert "pretrain" not in json.loads((out / "01-basic" / "stage.json").read_text())


def test_an_ensemble_that_needs_weights_pretrains_before_its_folds(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeWithPretrain().install(monkeypatch)
    stages = [{**PRETRAINED, "ensemble_folds": 2}]
    settings = SweepSettings(seeds=1, jobs=2, quiet=True)
    result = run_ablation(data, write_ladder(tmp_path, stages), tmp_path / "sweep", settings)
    assert result.failed == []
    assert [args[0] for _, args in fake.calls] == [
        "pretrain",
        "train",
        "save-probabilities",
        "train",
        "save-probabilities",
        "evaluate",
    ]


def test_pretrain_carries_on_and_can_be_turned_off(tmp_path: Path) -> None:
    stages = [
        {"name": "basic"},
        PRETRAINED,
        {"name": "+ tuned", "tune": True},
        {"name": "- weights", "pretrain": False},
    ]
    resolved = load_ladder(write_ladder(tmp_path, stages)).stages
    assert [stage.pretrain for stage in resolved] == [None, {"steps": 3}, {"steps": 3}, None]
    assert resolved[1].training_key == resolved[2].training_key != resolved[0].training_key


@pytest.mark.parametrize("value", [{"epochs": 3}, {"steps": 0}, {}, "yes", True])
def test_a_bad_pretrain_budget_is_one_error_line(tmp_path: Path, value) -> None:
    path = write_ladder(tmp_path, [{"name": "basic", "pretrain": value}])
    with pytest.raises(SparsegError, match="pretrain: expected false or a mapping of steps"):
        load_ladder(path)


def test_the_field_guide_ladder_pretrains_instead_of_skipping() -> None:
    unavailable = load_ladder(
        REPO / "configs/ladders/field-guide.yaml", lambda *_: "weights offline"
    )
    stages = {stage.name: stage for stage in unavailable.stages}
    pretrained = stages["+ pre-trained encoder"]
    assert pretrained.skipped is None and pretrained.pretrain == {"steps": 1000}
    assert pretrained.config.model.encoder_weights is None
    assert stages["+ ensemble"].pretrain == {"steps": 1000}
    assert stages["+ Focal Tversky"].pretrain is None


@pytest.mark.slow
def test_a_pretraining_stage_runs_end_to_end(tmp_path: Path, data: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    ladder = tmp_path / "ladder.yaml"
    ladder.write_text(yaml.safe_dump({"base": "tiny.yaml", "stages": [PRETRAINED]}))
    out = tmp_path / "sweep"
    result = run_ablation(data, ladder, out, SweepSettings(seeds=1, quiet=True))
    assert result.failed == [] and result.rows[0].status == "done"
    (weights,) = (out / "pretrained").glob("*-seed0.pth")
    seen = json.loads(weights.with_suffix(".json").read_text())
    test_ids = set(json.loads((out / "split.json").read_text())["test"])
    assert seen["steps"] == 3 and seen["images"] == 16 - len(test_ids)
    config = yaml.safe_load((out / "01-in-domain-weights" / "seed0" / "config.yaml").read_text())
    assert config["model"]["pretrained_weights"] == str(weights)
