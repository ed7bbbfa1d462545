"""The local executor of a sweep's plan: its tasks in a pool of ``jobs`` threads, each task as
soon as the tasks it waits for have ended (the earliest in the plan first), each ``sparseg``
command in a child process that logs into its run folder's ``ablation.log``, the helper steps
in-process.

A failed training fails the runs of the finishing task that waits for it; a failed step of a
finishing task fails its run (``ablation_failed.txt``) and the task goes on with the next run.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

import torch

from sparseg.ablation import helper_steps
from sparseg.ablation.layout import FAILED_FILE, LOG_FILE
from sparseg.ablation.plan import Step, SweepPlan, Task, shell
from sparseg.ablation.sweep import Run
from sparseg.errors import SparsegError
from sparseg.io_utils import atomic_write

# The child dies with the sweep (Linux PR_SET_PDEATHSIG), so a killed sweep leaves no orphan
# training that a restarted sweep would race; __spec__ lets Fabric's DDP re-launch `-m` it.
_CHILD = (
    "import ctypes, importlib.util, os, signal, sys, __main__\n"
    "if sys.platform.startswith('linux'):\n"
    "    ctypes.CDLL(None).prctl(1, signal.SIGKILL)\n"
    "    if os.getppid() != int(sys.argv[1]): sys.exit(137)\n"
    "__main__.__spec__ = importlib.util.find_spec('sparseg.__main__')\n"
    "from sparseg.cli import main\n"
    "main(sys.argv[2:])\n"
)


class StepFailed(Exception):
    pass


def device_slots(jobs: int) -> queue.Queue[str] | None:
    """With several jobs on a GPU machine, one GPU per job (round robin over the GPUs)."""
    if jobs < 2:
        return None
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        return None
    slots: queue.Queue[str] = queue.Queue()
    for index in range(jobs):
        slots.put(str(index % count))
    return slots


def _last_line(path: Path) -> str:
    lines = [
        line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
    ]
    return next((line for line in reversed(lines) if line), "no output")


# A task's outcome: the error that fails the tasks waiting for it (None: it succeeded), and the
# failures of the runs it evaluates, one line each.
Outcome = tuple[str | None, list[str]]


class LocalPool:
    """Runs a :class:`SweepPlan` here, ``jobs`` tasks at once."""

    def __init__(self, *, jobs: int, quiet: bool, devices: queue.Queue[str] | None) -> None:
        self.jobs, self.quiet, self.devices = jobs, quiet, devices
        self.stopping = threading.Event()

    def say(self, run: Run, text: str) -> None:
        if not self.quiet:
            print(f"{run.label} {text}", flush=True)

    def run(self, plan: SweepPlan) -> list[str]:
        """Every task of ``plan``; the failed runs, one line each, in the plan's order."""
        for run in plan.done:
            self.say(run, "skipped: done")
        tasks, outcomes = plan.tasks, {}
        waiting, running = list(range(len(tasks))), {}
        pool = ThreadPoolExecutor(max_workers=self.jobs)
        try:
            while waiting or running:
                ready = [k for k in waiting if all(d in outcomes for d in tasks[k].after)]
                for index in ready[: self.jobs - len(running)]:
                    waiting.remove(index)
                    errors = [outcomes[d][0] for d in tasks[index].after if outcomes[d][0]]
                    running[pool.submit(self._task, tasks[index], errors)] = index
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in finished:
                    outcomes[running.pop(future)] = future.result()
        except BaseException:  # Ctrl-C: start nothing new; running children get the signal too
            self.stopping.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown()
        return [line for index in sorted(outcomes) for line in outcomes[index][1]]

    def _task(self, task: Task, errors: list[str]) -> Outcome:
        """Run ``task``'s steps (none where a task it waits for failed: ``errors``)."""
        if errors:
            return errors[0], [self._fail(run, errors[0]) for run in task.evaluates]
        device = self.devices.get() if self.devices is not None else None
        try:
            failed: dict[Path, str] = {}  # a run's folder -> why its steps stopped
            for step in task.steps:
                if step.run.run_dir not in failed:
                    try:
                        self._step(step, device)
                    except StepFailed as exc:
                        failed[step.run.run_dir] = str(exc)
        finally:
            if device is not None and self.devices is not None:
                self.devices.put(device)
        failures = []
        for run in task.evaluates:
            if run.run_dir in failed:
                failures.append(self._fail(run, failed[run.run_dir]))
            else:
                (run.run_dir / FAILED_FILE).unlink(missing_ok=True)
                self.say(run, "done")
        return next(iter(failed.values()), None), failures

    def _step(self, step: Step, device: str | None) -> None:
        if not step.helper:
            self._command(step.run, list(step.args), device)
            return
        if self.stopping.is_set():
            raise StepFailed("interrupted")
        if step.note:
            self.say(step.run, step.note)
        try:
            helper_steps.main(list(step.args))
        except (SparsegError, OSError) as exc:
            raise StepFailed(str(exc)) from None

    def _command(self, run: Run, args: list[str], device: str | None) -> None:
        if self.stopping.is_set():
            raise StepFailed("interrupted")
        self.say(run, args[0])
        run.run_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        if device is not None:
            env["CUDA_VISIBLE_DEVICES"] = device
        log_path = run.run_dir / LOG_FILE
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(f"$ {shell(args)}\n")
            log.flush()
            command = [sys.executable, "-c", _CHILD, str(os.getpid()), *args]
            code = subprocess.run(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
            ).returncode
        if code != 0:
            raise StepFailed(f"{args[0]} exited with {code}: {_last_line(log_path)}")

    def _fail(self, run: Run, message: str) -> str:
        atomic_write(run.run_dir / FAILED_FILE, lambda tmp: tmp.write_text(f"failed: {message}\n"))
        self.say(run, f"failed: {message}")
        return f"{run.stage.name}, seed {run.seed}: {message}"
