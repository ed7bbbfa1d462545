"""Peak memory (RSS) of ``sparseg inspect`` and of one training epoch at 200 vs 5,000 images.

Goal (issue 6): peak RSS stays flat as the data set grows. Generates 5,000 synthetic 64x64 pairs
once (the 200-pair set is hard links to the first ones); each measured command runs as the only
child of a fresh wrapper process, whose ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` is then that
command's own peak (the figure the kernel keeps, no sampling).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/memory_scale.py [--workdir DIR]

Takes several minutes on 2 cores (the 5,000-image epoch dominates); writes
results/memory_scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inspect_speed import link_subset  # the sibling script; benchmarks run as scripts

RESULTS = Path(__file__).parent / "results" / "memory_scale.json"
SIZES = (200, 5000)
IMAGE_SIZE = (64, 64)
# A tiny but real training run: the smallest ResNet, one full epoch, validation included.
TRAIN_SETTINGS = (
    "data.input_size=[64, 64]",
    "model.encoder=resnet18",
    "training.batch_size=32",
    "training.max_epochs=1",
    "training.patience=null",
    "training.precision=32-true",
    "training.accelerator=cpu",
)


def measure_child(command: list[str]) -> dict:
    """Run ``command`` as this process's only child; its peak RSS and wall time."""
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{completed.stderr[-2000:]}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux reports KiB
    return {"peak_rss_mb": round(peak_kib / 1024, 1), "seconds": round(seconds, 1)}


def measured(command: list[str]) -> dict:
    """``measure_child`` in a fresh wrapper, so no earlier child's peak is mixed in."""
    completed = subprocess.run(
        [sys.executable, __file__, "--measure", json.dumps(command)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def sparseg(*args: str) -> list[str]:
    return [sys.executable, "-m", "sparseg", *args]


def measure_size(root: Path, run_dir: Path) -> dict:
    inspect = measured(sparseg("inspect", str(root)))
    settings = [f"--set={item}" for item in TRAIN_SETTINGS]
    train = measured(sparseg("train", "--data", str(root), "--out", str(run_dir), *settings))
    summary = json.loads((run_dir / "train_summary.json").read_text())
    train.update(images_seen=summary["images_seen"], steps=summary["steps"])
    return {"inspect": inspect, "train_one_epoch": train}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None, help="where the data sets go")
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure_child(json.loads(args.measure))))
        return

    from sparseg.data.synthetic import synthesize
    from sparseg.io_utils import atomic_write_json

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sparseg_memory_"))
    full = workdir / f"syn{max(SIZES)}"
    start = time.perf_counter()
    ids = synthesize(full, n=max(SIZES), size=IMAGE_SIZE, fg=0.02, empty=0.3, seed=0)
    synth_seconds = time.perf_counter() - start
    load_before = os.getloadavg()
    runs = {}
    for size in SIZES:
        root = full if size == max(SIZES) else link_subset(full, workdir / f"syn{size}", ids[:size])
        runs[str(size)] = measure_size(root, workdir / f"run{size}")
        print(f"{size:>5} pairs: {runs[str(size)]}", flush=True)
    small, large = runs[str(min(SIZES))], runs[str(max(SIZES))]
    result = {
        "what": "peak RSS of `sparseg inspect DATA` and of `sparseg train` for one epoch "
        f"(resnet18 U-Net, batch 32), synthetic {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]} 8-bit PNG, "
        "each command alone in a fresh process (getrusage RUSAGE_CHILDREN)",
        "train_settings": list(TRAIN_SETTINGS),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "synthesize_seconds": round(synth_seconds, 1),
        "runs": runs,
        "peak_rss_growth_mb": {
            "inspect": round(large["inspect"]["peak_rss_mb"] - small["inspect"]["peak_rss_mb"], 1),
            "train_one_epoch": round(
                large["train_one_epoch"]["peak_rss_mb"] - small["train_one_epoch"]["peak_rss_mb"],
                1,
            ),
        },
    }
    atomic_write_json(RESULTS, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
