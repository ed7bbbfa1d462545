"""One plan, three executors: the local pool, ``--emit-commands`` and the SLURM scripts run exactly
the plan's tasks, each after the tasks it waits for; what a sweep folder holds shapes the plan."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from sparseg.ablation import SweepSettings, run_ablation
from sparseg.ablation.ladder import load_ladder
from sparseg.ablation.local import LocalPool
from sparseg.ablation.plan import Step, SweepPlan, build_plan, plan_units
from sparseg.ablation.prepare import prepare_splits
from sparseg.ablation.sweep import RunBudget
from sparseg.data.synthetic import synthesize
from tests.ablation.test_runner import FakeCommands, write_ladder

STAGES = [
    {"name": "basic"},
    {"name": "+ tta", "overrides": {"inference.tta": True}},
    {"name": "+ lr", "overrides": {"training.lr": 0.003}, "tune": True},
    {"name": "+ ensemble", "ensemble_folds": 2, "tune": True},
]
BUDGET = RunBudget(steps=5)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plan_data")
    synthesize(root, n=16, size=(32, 32), fg=0.05, empty=0.2, seed=1)
    return root


def the_plan(data: Path, tmp_path: Path, out: Path, from_scratch: bool = False) -> SweepPlan:
    """The plan ``run_ablation`` makes for ``STAGES`` over two seeds in ``out``, as it is now."""
    ladder = load_ladder(tmp_path / "ladder.yaml")
    splits = prepare_splits(data.resolve(), None, ladder, out)
    units = plan_units(ladder, splits, out, seeds=2)
    return build_plan(units, data.resolve(), BUDGET, from_scratch=from_scratch)


def settings(**changes) -> SweepSettings:
    return SweepSettings(seeds=2, steps_per_run=BUDGET.steps, quiet=True, **changes)


def assert_dependencies_respected(plan: SweepPlan) -> None:
    for index, task in enumerate(plan.tasks):
        assert all(earlier < index for earlier in task.after), task.label


def test_emitted_commands_are_the_plans_tasks_unit_by_unit(tmp_path: Path, data: Path) -> None:
    out = tmp_path / "sweep"
    ladder = write_ladder(tmp_path, STAGES)
    result = run_ablation(data, ladder, out, settings(emit_commands=True))
    plan = the_plan(data, tmp_path, out, from_scratch=True)
    assert_dependencies_respected(plan)
    emitted = [block.splitlines() for block in result.commands]
    units = plan.by_unit()
    assert [title for title, _ in emitted] == [f"# {tasks[0].unit}" for tasks in units]
    for (_, line), tasks in zip(emitted, units, strict=True):
        steps = [step.shell() for task in tasks for step in task.steps]
        assert line.split(" && ") == steps  # a unit's trainings, then its finishing, in order
    # a fresh folder: what is left to do is everything
    fresh = the_plan(data, tmp_path, out)
    assert [task.steps for task in fresh.tasks] == [task.steps for task in plan.tasks]


def test_the_slurm_script_holds_exactly_the_plans_tasks(tmp_path: Path, data: Path) -> None:
    out = tmp_path / "sweep"
    ladder = write_ladder(tmp_path, STAGES)
    run_ablation(data, ladder, out, settings(launcher="slurm"))
    plan = the_plan(data, tmp_path, out)
    text = (out / "sweep.sbatch").read_text()
    cases = text.split('case "$SLURM_ARRAY_TASK_ID" in\n')[1].split("    ;;\n")[:-1]
    written = [tuple(line.strip() for line in case.strip().splitlines()) for case in cases]
    trainings = [task for task in plan.tasks if not task.evaluates]
    finishing = [task for task in plan.tasks if task.evaluates]
    expected = [
        (f"{index})  # {task.label}", " && ".join(step.shell() for step in task.steps))
        for index, task in enumerate(trainings + finishing)
    ]
    assert written == expected
    # each finishing task is submitted after exactly the trainings it waits for
    submit = (out / "submit.sh").read_text().splitlines()
    for number, task in enumerate(finishing, start=len(trainings)):
        line = next(line for line in submit if line.startswith(f"sbatch --array={number} "))
        after = [trainings.index(plan.tasks[k]) for k in task.after]
        dependency = ":".join(f"${{trainings}}_{k}" for k in after)
        assert (f"--dependency=afterok:{dependency}" in line) == bool(after)


def test_the_local_pool_runs_exactly_the_plans_steps_after_what_they_wait_for(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "sweep"
    ladder = write_ladder(tmp_path, STAGES)
    run_ablation(data, ladder, out, settings(emit_commands=True))  # the folder, nothing run
    plan = the_plan(data, tmp_path, out)
    ran: list[str] = []
    lock = threading.Lock()
    FakeCommands().install(monkeypatch)
    run_step = LocalPool._step

    def step(pool: LocalPool, step: Step, device: str | None) -> None:
        with lock:
            ran.append(step.shell())
        run_step(pool, step, device)

    monkeypatch.setattr(LocalPool, "_step", step)
    result = run_ablation(data, ladder, out, settings(jobs=3))
    assert result.failed == []
    planned = [step.shell() for task in plan.tasks for step in task.steps]
    assert sorted(ran) == sorted(planned)
    for task in plan.tasks:
        own = [ran.index(step.shell()) for step in task.steps]
        assert own == sorted(own)  # in the task's order
        for earlier in task.after:
            assert max(ran.index(s.shell()) for s in plan.tasks[earlier].steps) < min(own)


def test_the_plan_leaves_out_what_is_done_and_redoes_what_a_lost_model_derived(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "sweep"
    ladder = write_ladder(tmp_path, STAGES)
    FakeCommands().install(monkeypatch)
    run_ablation(data, ladder, out, settings())
    assert the_plan(data, tmp_path, out).tasks == []  # finished: nothing left
    # seed 1's + tta was not evaluated: only its finishing, without adopting or tuning again
    (out / "02-tta" / "seed1" / "evaluation.json").unlink()
    tasks = the_plan(data, tmp_path, out).tasks
    assert [task.label for task in tasks] == ["basic, + tta · seed 1: finish"]
    assert [step.args[0] for step in tasks[0].steps] == ["settle_inference", "evaluate"]
    # + lr's model trained elsewhere and came without its checkpoint: trained and tuned again
    for run in ("seed0", "seed1"):
        (out / "03-lr" / run / "best.ckpt").unlink()
    (out / "03-lr" / "seed0" / "evaluation.json").unlink()
    plan = the_plan(data, tmp_path, out)
    lr = [task for task in plan.tasks if task.unit == "+ lr · seed 0"]
    assert [[step.args[0] for step in task.steps] for task in lr] == [
        ["train"],
        ["tune", "settle_inference", "evaluate"],
    ]
    assert "--resume" not in lr[0].steps[0].args
    assert json.loads((out / "03-lr" / "seed1" / "evaluation.json").read_text())
    assert [run.stage.name for run in plan.done].count("+ lr") == 1  # seed 1 left alone
    assert_dependencies_respected(plan)
