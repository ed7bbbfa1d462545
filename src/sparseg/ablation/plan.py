"""One plan for a sweep: the tasks still to do, each with the tasks it waits for, made once from
the ladder's runs, the split files, the budget and what the sweep folder already holds.

Three executors run the same :class:`SweepPlan` and decide nothing of their own: the local pool
(:mod:`sparseg.ablation.local`), ``--emit-commands`` (:func:`emitted_commands`) and the SLURM
writer (:mod:`sparseg.ablation.slurm`).

A *unit* is the runs of one seed that share one training (stages differing only in inference);
it becomes one task per model still to train (an ensemble's folds each; one for all of them while
the in-domain weights they start from are still to be made) and one finishing task that waits for
them: take the leader's training, tune, settle ``inference.json``, evaluate, for each of the
unit's runs still to evaluate.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sparseg.ablation.helper_steps import adopt_training, settle_inference
from sparseg.ablation.ladder import Ladder, Stage
from sparseg.ablation.layout import SweepPaths
from sparseg.ablation.sweep import (
    Run,
    RunBudget,
    evaluate_args,
    lost,
    lost_model,
    pending_runs,
    pretrain_args,
    save_probabilities_args,
    saves_probabilities,
    train_args,
    trained,
    tune_args,
    tuned,
)
from sparseg.run_layout import RunPaths

_HELPER = "import sys; from sparseg.ablation.helper_steps import main; main(sys.argv[1:])"


def shell(args: Sequence[str], *, helper: bool = False) -> str:
    """The shell line of a ``sparseg`` command, or (``helper``) of a step of
    :mod:`sparseg.ablation.helper_steps` run through its ``main``."""
    if helper:
        return shlex.join([sys.executable, "-c", _HELPER, *args])
    return shlex.join([sys.executable, "-m", "sparseg", *args])


@dataclass(frozen=True)
class Step:
    """One command of a task, for ``run`` (whose folder keeps its log): a ``sparseg`` command, or
    (``helper``) a step of :data:`sparseg.ablation.helper_steps.STEPS` by name; ``note`` is what
    the local pool says when it runs a helper step."""

    run: Run
    args: tuple[str, ...]
    helper: bool = False
    note: str | None = None

    def shell(self) -> str:
        return shell(self.args, helper=self.helper)


@dataclass(frozen=True)
class Task:
    """Steps that run in order in one place, after the tasks ``after`` (indices of earlier tasks
    of the plan).
    ``evaluates``: the runs whose outcome it decides (a finishing task); a task that evaluates
    none (a training) fails the tasks that wait for it when it fails."""

    label: str
    unit: str
    steps: tuple[Step, ...]
    after: tuple[int, ...] = ()
    evaluates: tuple[Run, ...] = ()


@dataclass(frozen=True)
class SweepPlan:
    """The sweep's tasks, each after the tasks it waits for; ``done``: runs evaluated before."""

    tasks: list[Task]
    done: list[Run]

    def by_unit(self) -> list[list[Task]]:
        """The tasks grouped by unit, in order."""
        units: dict[str, list[Task]] = {}
        for task in self.tasks:
            units.setdefault(task.unit, []).append(task)
        return list(units.values())


def plan_units(
    ladder: Ladder, splits: dict[int, Path], out_dir: Path, seeds: int
) -> list[list[Run]]:
    """Runs grouped by shared training, seed-major so a stopped sweep has complete early seeds,
    ensembles last: one trains several models (a 2-core CPU at 1,000 steps a model: longer than a
    working session), and lands fold by fold through its folds' saved probabilities, while every
    other unit lands whole."""
    paths = SweepPaths(Path(out_dir))
    groups: dict[str, list[Stage]] = {}
    for stage in ladder.stages:
        if stage.skipped is None:
            groups.setdefault(stage.training_key, []).append(stage)
    units = []
    for seed in range(seeds):
        for group in groups.values():
            runs = [
                Run(
                    stage=stage,
                    seed=seed,
                    run_dir=paths.run(stage.slug, seed),
                    stage_dir=paths.stage(stage.slug),
                    split=splits[stage.ensemble_folds],
                )
                for stage in group
            ]
            for run in runs[1:]:
                run.leader = runs[0]
            units.append(runs)
    return sorted(units, key=lambda unit: unit[0].stage.ensemble_folds > 1)


def unit_label(unit: list[Run]) -> str:
    return f"{', '.join(run.stage.name for run in unit)} · seed {unit[0].seed}"


def build_plan(
    units: list[list[Run]], data: Path, budget: RunBudget, *, from_scratch: bool = False
) -> SweepPlan:
    """The tasks still to do for ``units``, from what the sweep folder holds; ``from_scratch``:
    every task of every unit, as if nothing had run (what ``--emit-commands`` prints)."""
    tasks: list[Task] = []
    done: list[Run] = []
    for unit in units:
        pending = list(unit) if from_scratch else pending_runs(unit)
        done += [run for run in unit if run not in pending]
        if not pending:
            continue
        leader, label, first = unit[0], unit_label(unit), len(tasks)
        for folders, commands in model_groups(leader, data, budget, from_scratch):
            where = "".join(f" · {folder.name}" for folder in folders if folder != leader.run_dir)
            steps = tuple(Step(leader, tuple(args)) for args in commands)
            tasks.append(Task(f"{label}{where}: train", label, steps))
        again = from_scratch or lost_model(leader)
        tasks.append(
            Task(
                f"{label}: finish",
                label,
                finish_steps(pending, data, again),
                after=tuple(range(first, len(tasks))),
                evaluates=tuple(pending),
            )
        )
    return SweepPlan(tasks, done)


def model_args(
    leader: Run, folder: Path, data: Path, budget: RunBudget, from_scratch: bool = False
) -> list[list[str]]:
    """The sparseg commands ``folder``'s model still needs (all of them ``from_scratch``): the
    in-domain weights it starts from, where its stage pretrains and they are not made yet (by
    an ensemble's first fold: :func:`model_groups` keeps the others waiting for them), its
    training (resumed from ``last.ckpt`` where there is one; again where the model was lost),
    then, for an ensemble's fold, saving its probabilities."""
    paths = RunPaths(folder)
    args = []
    if from_scratch or not paths.train_summary.is_file() or lost(folder):
        weights = leader.pretrained
        first = folder == leader.trained_dirs[0]
        if weights is not None and first and (from_scratch or not weights.is_file()):
            args.append(pretrain_args(leader, data))
        resume = not from_scratch and paths.last.is_file()
        args.append(train_args(leader, folder, data, budget, resume))
    if saves_probabilities(leader) and (from_scratch or not paths.probabilities.is_file()):
        args.append(save_probabilities_args(leader, folder, data))
    return args


def model_groups(
    leader: Run, data: Path, budget: RunBudget, from_scratch: bool = False
) -> list[tuple[list[Path], list[list[str]]]]:
    """The commands still to run for the leader's models, as ``(folders, commands)`` groups
    that may run side by side: one per model, or one for all while the in-domain weights they
    all start from are still to be made (pretraining, then each model in turn)."""
    groups = [
        ([folder], args)
        for folder in leader.trained_dirs
        if (args := model_args(leader, folder, data, budget, from_scratch))
    ]
    weights = leader.pretrained
    making_weights = weights is not None and (from_scratch or not weights.is_file())
    if len(groups) > 1 and making_weights:
        return [([f for fs, _ in groups for f in fs], [a for _, args in groups for a in args])]
    return groups


def finish_steps(runs: list[Run], data: Path, again: bool = False) -> tuple[Step, ...]:
    """What ``runs`` (stages of one unit) do once its models are trained: take the leader's
    training and tune where the stage tunes (each unless done before on the same model; all
    ``again`` where the model trains anew), settle the inference settings, evaluate."""
    steps: list[Step] = []
    for run in runs:
        if run.leader is not None and (again or not trained(run)):
            adopt = (adopt_training.__name__, str(run.leader.run_dir), str(run.run_dir))
            note = f"reuses the training of {run.leader.stage.name}"
            steps.append(Step(run, adopt, helper=True, note=note))
        if run.stage.tune and (again or not tuned(run)):
            steps.append(Step(run, tuple(tune_args(run, data))))
        settle = (settle_inference.__name__, str(run.inference_dir), str(run.stage_dir))
        steps.append(Step(run, settle, helper=True))
        steps.append(Step(run, tuple(evaluate_args(run, data))))
    return tuple(steps)


def emitted_commands(plan: SweepPlan) -> list[str]:
    """``--emit-commands``: one block per unit, its title and every step of its tasks in order,
    chained with ``&&`` (a unit's tasks wait only for the unit's earlier ones)."""
    return [
        f"# {tasks[0].unit}\n" + " && ".join(step.shell() for task in tasks for step in task.steps)
        for tasks in plan.by_unit()
    ]
