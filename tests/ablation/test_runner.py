"""The sweep: which commands run in which state (fake commands), the helpers between them, and one
tiny real sweep end to end (2 stages × 2 seeds) that a second call does not redo."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
import yaml

from sparseg.ablation import SweepSettings, render_ablation, run_ablation
from sparseg.ablation.local import LocalPool, StepFailed
from sparseg.data.synthetic import synthesize
from tests.helpers import tiny_base

TINY = tiny_base(max_steps=2)
TWO_STAGES = [
    {"name": "basic", "claim": [0.2, 0.3]},
    {"name": "+ small-object removal", "overrides": {"inference.postprocess.min_object_size": 3}},
]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sweep_data")
    synthesize(root, n=16, size=(64, 64), fg=0.04, empty=0.2, seed=0)
    return root


def write_ladder(folder: Path, stages: list) -> Path:
    (folder / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    path = folder / "ladder.yaml"
    path.write_text(yaml.safe_dump({"base": "tiny.yaml", "stages": stages}))
    return path


class FakeCommands:
    """Stands in for the sparseg subprocesses: records them and writes the files they would."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.fail_on = fail_on

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeCommands:
        monkeypatch.setattr(LocalPool, "_command", lambda sweep, run, args, device: self(run, args))
        return self

    def __call__(self, run, args: list[str]) -> None:
        self.calls.append((f"{run.stage.slug}/seed{run.seed}", args))
        if args[0] == self.fail_on:
            raise StepFailed(f"{args[0]} exited with 2: error: broken")
        if args[0] == "train":
            folder = Path(args[args.index("--out") + 1])
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "best.ckpt").write_text("weights")
            (folder / "train_summary.json").write_text(
                json.dumps({"steps": 5, "images_seen": 20, "wall_seconds": 1.5})
            )
        elif args[0] == "save-probabilities":
            (Path(args[args.index("--run") + 1]) / "probabilities.npz").write_text("saved")
        elif args[0] == "tune":
            payload = {"inference": {"threshold": 0.35, "tta": True}, "decisions": []}
            (run.inference_dir / "inference.json").write_text(json.dumps(payload))
        elif args[0] == "evaluate":
            metrics = {"dice_per_image_empty_is_one": 0.5 + run.seed / 10, "n_images": 3}
            (run.run_dir / "evaluation.json").write_text(json.dumps(metrics))

    def names(self) -> list[tuple[str, str]]:
        return [(where, args[0]) for where, args in self.calls]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeCommands:
    return FakeCommands().install(monkeypatch)


def test_runs_in_order_share_training_and_tune_only_where_asked(
    tmp_path: Path, data: Path, fake: FakeCommands
) -> None:
    stages = [
        *TWO_STAGES,
        {"name": "+ tuned", "tune": True, "after_tune": {"inference.crf.enabled": True}},
        {"name": "+ ensemble", "ensemble_folds": 2},
    ]
    out = tmp_path / "sweep"
    result = run_ablation(
        data, write_ladder(tmp_path, stages), out, SweepSettings(seeds=2, quiet=True)
    )
    assert result.failed == []
    assert fake.names()[:6] == [
        ("01-basic/seed0", "train"),
        ("01-basic/seed0", "evaluate"),
        ("02-small-object-removal/seed0", "evaluate"),
        ("03-tuned/seed0", "tune"),
        ("03-tuned/seed0", "evaluate"),
        ("01-basic/seed1", "train"),
    ]
    # the ensembles come last, each fold trained and its probabilities saved before the next;
    # tuned once on the unit folder (every fold's out-of-fold predictions), then evaluated
    assert fake.names()[10:16] == [
        ("04-ensemble/seed0", "train"),
        ("04-ensemble/seed0", "save-probabilities"),
        ("04-ensemble/seed0", "train"),
        ("04-ensemble/seed0", "save-probabilities"),
        ("04-ensemble/seed0", "tune"),
        ("04-ensemble/seed0", "evaluate"),
    ]
    unit = out / "04-ensemble" / "seed0"
    assert fake.calls[14][1][2] == str(unit)
    assert len(fake.calls) == 22
    for call, fold in ((fake.calls[10][1], "0"), (fake.calls[12][1], "1")):
        assert call[call.index("--fold") + 1] == fold and "--resume" not in call
        assert call[call.index("--out") + 1] == str(unit / f"fold_{fold}")
    saves = [fake.calls[11][1], fake.calls[13][1]]
    for save, fold in zip(saves, ("0", "1"), strict=True):
        assert save[save.index("--run") + 1] == str(unit / f"fold_{fold}")
        assert save[save.index("--fold") + 1] == fold  # its own held-out images
        assert [a for a in save if a in ("val", "test")] == ["val", "test"]  # tune reads val
    assert "--resume" not in fake.calls[0][1]
    tuned = out / "03-tuned" / "seed1"
    assert (tuned / "best.ckpt").read_text() == "weights"  # adopted from basic, not retrained
    inference = json.loads((tuned / "inference.json").read_text())
    assert inference["inference"]["threshold"] == 0.35 and inference["inference"]["crf"]["enabled"]
    assert inference["forced"] == {"inference.crf.enabled": True}
    rows = {(r.slug, r.seed): r for r in result.rows}
    assert rows[("04-ensemble", 1)].steps == 10  # summed over the two fold models
    assert all(row.status == "done" for row in rows.values())

    fake.calls.clear()
    run_ablation(data, write_ladder(tmp_path, stages), out, SweepSettings(seeds=2, quiet=True))
    assert fake.calls == []  # everything finished: nothing runs again


def test_partial_training_resumes_and_finished_training_is_kept(
    tmp_path: Path, data: Path, fake: FakeCommands
) -> None:
    out = tmp_path / "sweep"
    killed = out / "01-basic" / "seed0"
    killed.mkdir(parents=True)
    (killed / "last.ckpt").write_text("half-way")
    trained = out / "01-basic" / "seed1"
    trained.mkdir(parents=True)
    (trained / "best.ckpt").write_text("weights")
    (trained / "train_summary.json").write_text(json.dumps({"steps": 2}))
    run_ablation(data, write_ladder(tmp_path, TWO_STAGES), out, SweepSettings(seeds=2, quiet=True))
    assert fake.names() == [
        ("01-basic/seed0", "train"),
        ("01-basic/seed0", "evaluate"),
        ("02-small-object-removal/seed0", "evaluate"),
        ("01-basic/seed1", "evaluate"),
        ("02-small-object-removal/seed1", "evaluate"),
    ]
    assert fake.calls[0][1][-1] == "--resume"


def test_a_failed_training_fails_its_stages_and_the_sweep_goes_on(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = FakeCommands(fail_on="train").install(monkeypatch)
    out = tmp_path / "sweep"
    result = run_ablation(
        data, write_ladder(tmp_path, TWO_STAGES), out, SweepSettings(seeds=2, quiet=True)
    )
    assert len(result.failed) == 4 and len(commands.calls) == 2  # one training per seed tried
    assert result.failed[0] == "basic, seed 0: train exited with 2: error: broken"
    assert {row.status for row in result.rows} == {"failed: train exited with 2: error: broken"}
    assert "- **basic**, seed 1: failed: train exited with 2" in (out / "ablation.md").read_text()


def test_an_ensembles_folds_train_side_by_side_and_the_last_finishes_the_unit(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With two jobs, two folds of one seed's ensemble train at once (each waits for the other at
    a barrier, which times out if they ran one after the other); the unit is tuned and evaluated
    once, after all three folds; a failed fold fails the unit's stage, the others still train."""
    commands = FakeCommands()
    both_training = threading.Barrier(2, timeout=10)
    lock = threading.Lock()
    trains_started = [0]  # counted on entry: a finished call is recorded too late for a third fold

    def command(sweep, run, args: list[str], device) -> None:
        with lock:
            trains_started[0] += args[0] == "train"
            among_first_two = args[0] == "train" and trains_started[0] <= 2
        if among_first_two:
            both_training.wait()
        with lock:
            commands(run, args)

    monkeypatch.setattr(LocalPool, "_command", command)
    ladder = write_ladder(tmp_path, [{"name": "+ ensemble", "ensemble_folds": 3, "tune": True}])
    settings = SweepSettings(seeds=1, jobs=2, quiet=True)
    result = run_ablation(data, ladder, tmp_path / "sweep", settings)
    assert result.failed == [] and result.rows[0].status == "done"
    names = [args[0] for _, args in commands.calls]
    assert names.count("train") == 3 and names.count("save-probabilities") == 3
    assert names[-2:] == ["tune", "evaluate"]

    commands = FakeCommands(fail_on="train").install(monkeypatch)
    failed = run_ablation(data, ladder, tmp_path / "failing", SweepSettings(seeds=1, quiet=True))
    assert [args[0] for _, args in commands.calls] == ["train"] * 3
    assert failed.failed == ["+ ensemble, seed 0: train exited with 2: error: broken"]


@pytest.mark.slow
def test_tiny_sweep_end_to_end_is_not_redone(
    tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    ladder = write_ladder(tmp_path, TWO_STAGES)
    result = run_ablation(data, ladder, out, SweepSettings(seeds=2, jobs=2))
    assert result.failed == []
    assert [p.name for p in result.outputs] == ["ablation.csv", "ablation.md", "ablation.png"]
    assert all(path.stat().st_size > 0 for path in result.outputs)
    assert [row.status for row in result.rows] == ["done"] * 4
    assert all(0.0 <= row.score("dice_pooled") <= 1.0 for row in result.rows)
    assert {row.steps for row in result.rows} == {2.0}
    follower = out / "02-small-object-removal" / "seed1"
    leader = out / "01-basic" / "seed1"
    assert os.path.samefile(leader / "best.ckpt", follower / "best.ckpt")
    inference = json.loads((follower / "inference.json").read_text())["inference"]
    assert inference["postprocess"]["min_object_size"] == 3
    markdown = (out / "ablation.md").read_text()
    assert "| basic | 2/2 |" in markdown and "(n=2)" in markdown

    finished = {p: p.stat().st_mtime_ns for p in out.glob("*/seed*/evaluation.json")}
    assert len(finished) == 4
    capsys.readouterr()
    again = run_ablation(data, ladder, out, SweepSettings(seeds=2))
    assert capsys.readouterr().out.count("skipped: done") == 4
    assert {p: p.stat().st_mtime_ns for p in finished} == finished
    assert [row.status for row in again.rows] == ["done"] * 4

    assert render_ablation(out)[1].read_text() == (out / "ablation.md").read_text()
