"""A sweep on SLURM: one job array whose tasks are first every model still to train (a single
model, or one fold of an ensemble, so an ensemble's folds train side by side on as many nodes),
then every unfinished unit's tune and evaluate. ``DIR/submit.sh`` submits the trainings as one
array, then each unit's finishing task with ``--dependency=afterok`` on that unit's own
trainings, so a unit is evaluated as soon as its models are ready. Units already finished are
left out. Running ``sparseg ablate`` again afterwards finds every run done and writes the tables
(the sweep is resumable, so a failed task just reruns).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from sparseg.ablation.plan import SweepPlan
from sparseg.io_utils import atomic_write

SCRIPT_NAME = "sweep.sbatch"
SUBMIT_NAME = "submit.sh"


@dataclass(frozen=True)
class SlurmTask:
    """One array task: its label, its commands chained with ``&&`` and the tasks it waits for."""

    label: str
    command: str
    after: tuple[int, ...] = ()


@dataclass(frozen=True)
class SlurmSweep:
    """The array's tasks: ``trainings`` first (indices 0..), then ``finishing``, one per unit;
    a finishing task waits for trainings only (``after``: their indices)."""

    trainings: list[SlurmTask]
    finishing: list[SlurmTask]

    @property
    def tasks(self) -> list[SlurmTask]:
        return self.trainings + self.finishing


def slurm_tasks(plan: SweepPlan) -> SlurmSweep:
    """The plan's tasks as array tasks, in the plan's order: its trainings (the tasks that
    evaluate no run) first, then its finishing tasks, each after the trainings it waits for."""
    trainings = [k for k, task in enumerate(plan.tasks) if not task.evaluates]
    finishing = [k for k, task in enumerate(plan.tasks) if task.evaluates]
    position = {index: place for place, index in enumerate(trainings)}

    def array_task(index: int) -> SlurmTask:
        task = plan.tasks[index]
        command = " && ".join(step.shell() for step in task.steps)
        return SlurmTask(task.label, command, tuple(position[k] for k in task.after))

    return SlurmSweep([array_task(k) for k in trainings], [array_task(k) for k in finishing])


def sbatch_script(tasks: list[SlurmTask], out_dir: Path, job_name: str) -> str:
    """The array script: task ``$SLURM_ARRAY_TASK_ID`` runs the commands of ``tasks[id]``."""
    log = shlex.quote(str(Path(out_dir) / "slurm-%A_%a.log"))
    submit = shlex.quote(str(Path(out_dir) / SUBMIT_NAME))
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={shlex.quote(job_name)}",
        f"#SBATCH --output={log}",
        "#SBATCH --ntasks=1",
        "# Add your cluster's resources here, e.g. #SBATCH --gres=gpu:1 and --time=.",
        f"# Submit it with `bash {submit}`, which sets --array and the dependencies.",
        "set -euo pipefail",
        'case "$SLURM_ARRAY_TASK_ID" in',
    ]
    for index, task in enumerate(tasks):
        lines += [f"  {index})  # {task.label}", f"    {task.command}", "    ;;"]
    lines += ['  *) echo "no task $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;', "esac"]
    return "\n".join(lines) + "\n"


def submit_script(sweep: SlurmSweep, script: Path) -> str:
    """Submits the trainings as one array, then each finishing task after its own trainings."""
    trainings = len(sweep.trainings)
    lines = ["#!/bin/bash", "set -euo pipefail", f"script={shlex.quote(str(script))}"]
    if trainings:
        # --parsable prints "jobid" or "jobid;cluster"
        lines += [
            f'trainings=$(sbatch --parsable --array=0-{trainings - 1} "$script")',
            "trainings=${trainings%%;*}",
        ]
    for index, task in enumerate(sweep.finishing, start=trainings):
        after = ":".join(f"${{trainings}}_{k}" for k in task.after)
        dependency = f" --dependency=afterok:{after}" if after else ""
        lines.append(f'sbatch --array={index}{dependency} "$script"  # {task.label}')
    lines.append(f'echo "submitted {len(sweep.tasks)} tasks of $script"')
    return "\n".join(lines) + "\n"


def write_sbatch(sweep: SlurmSweep, out_dir: Path, ladder_name: str, quiet: bool) -> list[Path]:
    """``DIR/sweep.sbatch`` and ``DIR/submit.sh`` for ``sweep`` (no unit left: nothing written)."""
    tasks = sweep.tasks
    if not sweep.finishing:
        if not quiet:
            print("every run is finished: run without --launcher to write the tables", flush=True)
        return []
    script, submit = Path(out_dir) / SCRIPT_NAME, Path(out_dir) / SUBMIT_NAME
    text = sbatch_script(tasks, out_dir, f"sparseg-{ladder_name}")
    atomic_write(script, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    submitting = submit_script(sweep, script)
    atomic_write(submit, lambda tmp: tmp.write_text(submitting, encoding="utf-8"))
    submit.chmod(0o755)
    if not quiet:
        print(
            f"wrote {script} ({len(tasks)} array tasks): submit it with `bash {submit}`, then run "
            "this command again without --launcher to collect the tables",
            flush=True,
        )
    return [script, submit]
