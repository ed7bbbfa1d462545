"""SIGKILL a real ``sparseg ablate`` sweep (2 stages × 2 seeds) at seeded moments — mid-training,
during an evaluation, during a training's start-up — and rerun the same command each time.

A finished run (its ``evaluation.json`` exists) is never touched again: every file in it keeps
its bytes and its mtime. A kill takes the sweep's children with it (no orphan keeps writing), a
training killed after its first checkpoint resumes from ``last.ckpt``, every checkpoint on disk
loads at every kill, and the last rerun completes the sweep and writes its outputs.
"""

from __future__ import annotations

import csv
import math
import os
import random
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import yaml

from sparseg.data.synthetic import synthesize
from sparseg.models.checkpoint import load_checkpoint
from tests.helpers import tiny_base
from tests.reliability.support import snapshot

pytestmark = pytest.mark.slow

TINY = tiny_base(max_epochs=3)
# The second stage changes training (a loss weight), so each of the 4 runs trains its own model.
STAGES = [
    {"name": "basic"},
    {"name": "+ heavier bce", "overrides": {"loss.terms": {"dice": 0.5, "bce": 1.0}}},
]
RUNS = [f"{slug}/seed{seed}" for seed in (0, 1) for slug in ("01-basic", "02-heavier-bce")]
LABELS = {"01-basic": "basic", "02-heavier-bce": "+ heavier bce"}
SEGMENT_TIMEOUT_S = 240


@dataclass(frozen=True)
class Kill:
    """Kill the sweep ``delay`` seconds after a run of this segment is first seen ``during``:

    "training": a training that has written ``last.ckpt`` but not finished (a later epoch);
    "evaluation": an evaluate command (imports, prediction, scoring, the json write);
    "start-up": a fresh training before its first checkpoint (imports, set-up, first epoch).
    Only once another run has finished, so that there is finished work to lose.
    """

    during: str
    delay: float


def kill_plan(seed: int = 6) -> list[Kill]:
    rng = random.Random(seed)
    return [
        Kill("training", rng.uniform(0.0, 0.3)),
        Kill("evaluation", rng.uniform(1.0, 4.0)),
        Kill("start-up", rng.uniform(0.5, 3.0)),
    ]


def commands(run: Path) -> list[str]:
    """The sparseg command lines the sweep started in ``run`` (from its ``ablation.log``)."""
    log = run / "ablation.log"
    if not log.is_file():
        return []
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return [line for line in lines if line.startswith("$ ") and " -m sparseg " in line]


def command_name(line: str) -> str:
    words = shlex.split(line[2:])
    return words[words.index("sparseg") + 1]


def finished(run: Path) -> bool:
    return (run / "evaluation.json").is_file()


def in_phase(run: Path, during: str, started_here: bool) -> bool:
    """Whether ``run`` is in the phase ``during``, by a command this segment started."""
    lines = commands(run)
    if not started_here or not lines or finished(run):
        return False
    name = command_name(lines[-1])
    checkpoint, trained = (run / "last.ckpt").is_file(), (run / "train_summary.json").is_file()
    if during == "training":
        return name == "train" and checkpoint and not trained
    if during == "start-up":
        return name == "train" and not checkpoint
    return name == "evaluate"


def fingerprint(run: Path) -> dict[str, tuple[str, int]]:
    """Relative path → (SHA-256, mtime in ns) of every file of a run."""
    hashes = snapshot(run)
    return {name: (digest, (run / name).stat().st_mtime_ns) for name, digest in hashes.items()}


def assert_checkpoints_load(out: Path) -> int:
    paths = [path for path in out.rglob("*.ckpt") if not path.name.startswith(".")]
    for path in paths:
        assert "model" in load_checkpoint(path), path
    return len(paths)


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def strays(out: Path) -> list[psutil.Process]:
    """Live processes working on the sweep folder (every child's command line names it)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(str(out) in part for part in process.info["cmdline"] or ()) and alive(process):
            found.append(process)
    return found


class Sweep:
    """The ``sparseg ablate`` command, started once per segment."""

    def __init__(self, tmp_path: Path) -> None:
        self.data, self.out = tmp_path / "data", tmp_path / "sweep"
        synthesize(self.data, n=16, size=(64, 64), fg=0.04, empty=0.2, seed=0)
        (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
        self.ladder = tmp_path / "ladder.yaml"
        self.ladder.write_text(yaml.safe_dump({"base": "tiny.yaml", "stages": STAGES}))
        self.console = tmp_path / "console.txt"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        args = ["--data", self.data, "--ladder", self.ladder, "--seeds", "2", "--out", self.out]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
        with open(self.console, "w", encoding="utf-8") as console:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sparseg", "ablate", *map(str, args)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.console.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> int:
        """SIGKILL the sweep's top process only; its children must die with it."""
        assert self.process is not None
        family = psutil.Process(self.process.pid).children(recursive=True)
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + 15
        while any(map(alive, family)) or strays(self.out):
            assert time.monotonic() < deadline, (
                f"orphans of the killed sweep: {[p.pid for p in family if alive(p)]} "
                f"{[p.info['cmdline'] for p in strays(self.out)]}"
            )
            time.sleep(0.05)
        return len(family)

    def stop(self) -> None:
        """After a failed assertion: kill the sweep this test started, if it still runs."""
        if self.process is not None and self.process.poll() is None:
            self.kill()

    def segment(self, kill: Kill | None) -> str | None:
        """Run the sweep until it ends (None) or ``kill`` fires (the killed state, described)."""
        self.start()
        assert self.process is not None
        runs = [self.out / name for name in RUNS]
        seen = {run: len(commands(run)) for run in runs}
        started, fire_at, target = time.monotonic(), None, None
        while self.process.poll() is None:
            assert time.monotonic() - started < SEGMENT_TIMEOUT_S, "sweep hung:\n" + self.output()
            if kill is not None and fire_at is None and any(map(finished, runs)):
                for run in runs:
                    if in_phase(run, kill.during, len(commands(run)) > seen[run]):
                        fire_at, target = time.monotonic() + kill.delay, run
                        break
            if fire_at is not None and time.monotonic() >= fire_at:
                return self.describe_kill(kill, target, time.monotonic() - started)
            time.sleep(0.01)
        assert kill is None, f"the sweep finished before the {kill} kill:\n{self.output()}"
        assert self.process.returncode == 0, self.output()
        return None

    def describe_kill(self, kill: Kill, target: Path, at: float) -> str:
        state = sorted(path.name for path in target.iterdir())
        children = self.kill()
        return (
            f"killed {kill} at {at:.1f} s of the segment in {target.relative_to(self.out)} "
            f"(last command {command_name(commands(target)[-1])}, {children} child process(es));"
            f" its files: {state}"
        )


def test_a_killed_sweep_resumes_without_redoing_or_corrupting_finished_runs(
    tmp_path: Path,
) -> None:
    sweep = Sweep(tmp_path)
    kept: dict[str, dict[str, tuple[str, int]]] = {}  # finished run → its files at first sight
    resumable: dict[str, int] = {}  # run killed mid-training → its train commands at the kill
    try:
        for kill in kill_plan():
            print(sweep.segment(kill))
            for name in RUNS:
                run = sweep.out / name
                if name in kept:
                    assert fingerprint(run) == kept[name], f"finished run {name} was touched"
                elif finished(run):
                    kept[name] = fingerprint(run)
                elif (run / "last.ckpt").is_file() and not (run / "train_summary.json").is_file():
                    trains = [line for line in commands(run) if command_name(line) == "train"]
                    resumable.setdefault(name, len(trains))
            print(f"checkpoints loaded: {assert_checkpoints_load(sweep.out)}; done: {sorted(kept)}")
        assert sweep.segment(None) is None
    finally:
        sweep.stop()

    assert kept and resumable and len(kept) < len(RUNS)  # the kills landed mid-sweep
    for name, files in kept.items():
        assert fingerprint(sweep.out / name) == files, f"finished run {name} was redone"
        assert {"evaluation.json", "best.ckpt", "train_summary.json"} <= files.keys()
        slug, seed = name.split("/seed")
        assert f"[{LABELS[slug]} · seed {seed}] skipped: done" in sweep.output()
    for name, trains_before in resumable.items():
        trains = [line for line in commands(sweep.out / name) if command_name(line) == "train"]
        assert trains[trains_before].endswith(" --resume"), (name, trains)
    assert all(finished(sweep.out / name) for name in RUNS)
    assert assert_checkpoints_load(sweep.out) == 2 * len(RUNS)  # best.ckpt + last.ckpt each

    with open(sweep.out / "ablation.csv", newline="", encoding="utf-8") as table:
        rows = list(csv.DictReader(table))
    assert sorted(f"{row['slug']}/seed{row['seed']}" for row in rows) == sorted(RUNS)
    assert {row["status"] for row in rows} == {"done"}
    for row in rows:
        dice = [float(row[key]) for key in ("dice_per_image_empty_is_one", "dice_pooled")]
        assert all(0.0 <= value <= 1.0 and not math.isnan(value) for value in dice), row
        assert float(row["steps"]) == 6.0, row  # 3 epochs × 2 batches: resumed, not repeated
    for name in ("ablation.md", "ablation.png"):
        assert (sweep.out / name).stat().st_size > 0
