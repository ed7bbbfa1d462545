"""SIGKILL a real ``sparseg train`` at seeded moments (mid-epoch, validation, checkpoint writes,
start-up), resume it each time, and demand the result of an uninterrupted run, bit for bit.

While the run is killed and resumed, every version of ``best.ckpt``/``last.ckpt`` that appears
is loaded with :func:`load_checkpoint` (atomic writes: never a torn file), and a checkpoint that
existed once never disappears.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from sparseg.models.checkpoint import load_checkpoint
from tests.helpers import TINY_OVERRIDES

pytestmark = pytest.mark.slow

# With the weight average on: best.ckpt holds the average, last.ckpt the raw weights and it.
SETTINGS = [
    *TINY_OVERRIDES,
    "training.max_epochs=7",
    "training.val_every=1",
    "training.ema.enabled=true",
]
CHECKPOINTS = ("best.ckpt", "last.ckpt")
SUMMARY_KEYS = (
    "best_val_dice",
    "best_epoch",
    "final_train_loss",
    "steps",
    "images_seen",
    "epochs",
    "stop_reason",
)
SEGMENT_TIMEOUT_S = 240


@dataclass(frozen=True)
class Kill:
    """When to kill one segment: ``after`` an event, then ``delay`` seconds.

    after: "start" (process start: imports, set-up, first epoch), "update" (this segment's first
    new last.ckpt: mid-epoch or validation of the next epoch), "write" (a checkpoint temp file
    seen after this segment's first new last.ckpt: the kill lands inside a checkpoint write).
    """

    after: str
    delay: float = 0.0


@dataclass
class Watch:
    """What the poller saw in a run directory; it checks every checkpoint version it meets."""

    run: Path
    verified: set[tuple[str, int, int, int]] = field(default_factory=set)
    present: set[str] = field(default_factory=set)
    last_changes: list[float] = field(default_factory=list)

    def identity(self, name: str) -> tuple[str, int, int, int] | None:
        try:
            stat = (self.run / name).stat()
        except FileNotFoundError:
            return None
        return (name, stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def check(self, load: bool = True) -> None:
        """Every checkpoint on disk is loadable; none that existed before is gone."""
        for name in CHECKPOINTS:
            identity = self.identity(name)
            if identity is None:
                assert name not in self.present, f"{name} disappeared"
                continue
            self.present.add(name)
            if identity in self.verified:
                continue
            if name == "last.ckpt":
                self.last_changes.append(time.monotonic())
            if load:
                state = load_checkpoint(self.run / name)
                assert "model" in state and ("run" in state or name == "best.ckpt")
            self.verified.add(identity)

    def writing(self) -> bool:
        """A checkpoint temp file exists: a write is in progress (or was torn by a kill)."""
        if not self.run.is_dir():
            return False
        return any(
            entry.name.startswith((".best.ckpt.", ".last.ckpt.")) and entry.name.endswith(".tmp")
            for entry in os.scandir(self.run)
        )


def sparseg_train(data: Path, run: Path, resume: bool) -> subprocess.Popen:
    options = ["--resume"] if resume else [f"--set={item}" for item in SETTINGS]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}  # same for every run
    command = [sys.executable, "-m", "sparseg", "train", "--data", str(data), "--out", str(run)]
    return subprocess.Popen(
        [*command, *options, "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_segment(process: subprocess.Popen, watch: Watch, kill: Kill | None) -> bool:
    """Poll until the process ends or ``kill`` fires; True when it was killed."""
    started, updates_at_start = time.monotonic(), len(watch.last_changes)
    fire_at = started + kill.delay if kill and kill.after == "start" else None
    while process.poll() is None:
        assert time.monotonic() - started < SEGMENT_TIMEOUT_S, "training segment hung"
        watch.check(load=kill is not None)
        updated = len(watch.last_changes) > updates_at_start
        if kill and kill.after == "update" and updated and fire_at is None:
            fire_at = watch.last_changes[updates_at_start] + kill.delay
        due = fire_at is not None and time.monotonic() >= fire_at
        if due or (kill and kill.after == "write" and updated and watch.writing()):
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            last = watch.identity("last.ckpt")
            print(f"killed ({kill}) at {time.monotonic() - started:.1f} s; last.ckpt {last}")
            watch.check()
            return True
        time.sleep(0.005)
    _, stderr = process.communicate()
    assert process.returncode == 0, stderr
    watch.check(load=kill is not None)
    return False


def kill_plan(epoch_seconds: float, seed: int = 6) -> list[Kill]:
    """Seven kills: four at seeded fractions of an epoch after a checkpoint (training steps or
    validation), two inside checkpoint writes, one during start-up."""
    rng = random.Random(seed)
    during_epoch = [Kill("update", rng.uniform(0.1, 0.95) * epoch_seconds) for _ in range(4)]
    return [
        during_epoch[0],
        Kill("write"),
        during_epoch[1],
        Kill("start", rng.uniform(2.0, 5.0)),
        Kill("write"),
        during_epoch[2],
        during_epoch[3],
    ]


def test_killed_and_resumed_training_equals_an_uninterrupted_run(synthetic_data, tmp_path):
    straight = Watch(tmp_path / "straight")
    assert not run_segment(sparseg_train(synthetic_data, straight.run, False), straight, None)
    changes = straight.last_changes
    epoch_seconds = statistics.median(b - a for a, b in itertools.pairwise(changes))

    watch = Watch(tmp_path / "killed")
    kills = 0
    for kill in [*kill_plan(epoch_seconds), None]:
        resume = (watch.run / "last.ckpt").exists()  # before the first checkpoint: start afresh
        if not run_segment(sparseg_train(synthetic_data, watch.run, resume), watch, kill):
            break  # finished (the last segment, or a kill that never came due)
        kills += 1
    assert kills >= 5, f"only {kills} kills landed before the run finished"

    expected = json.loads((straight.run / "train_summary.json").read_text())
    got = json.loads((watch.run / "train_summary.json").read_text())
    assert {k: got[k] for k in SUMMARY_KEYS} == {k: expected[k] for k in SUMMARY_KEYS}
    for name, entry in (*((name, "model") for name in CHECKPOINTS), ("last.ckpt", "ema")):
        want = load_checkpoint(straight.run / name)[entry]
        have = load_checkpoint(watch.run / name)[entry]
        assert want.keys() == have.keys()
        assert all(torch.equal(want[key], have[key]) for key in want), f"{name} {entry}"
    metric_lines = [
        [line.split(",")[:4] for line in (run / "metrics.csv").read_text().splitlines()]
        for run in (straight.run, watch.run)
    ]
    assert metric_lines[0] == metric_lines[1]  # epoch, step, train loss, val Dice per epoch
    orphans = sorted(path.name for path in watch.run.glob(".*.tmp"))
    print(f"kills survived: {kills}; checkpoint versions loaded: {len(watch.verified)}; ")
    print(f"epoch {epoch_seconds:.1f} s; temp files left by kills inside writes: {orphans}")
