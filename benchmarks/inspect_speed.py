"""Speed and memory of ``inspect`` (fingerprint + proposed config) on synthetic 256² data sets.

Goal (issue 2): ≤ 30 s for 2,000 images on 2 cores. Goal (issue 6): peak RSS flat from 200 to
5,000 images. Generates 5,000 pairs once (the 200 and 2,000 sets are hard links to the first
ones), then runs each size in a fresh process so every peak RSS is its own.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/inspect_speed.py [--workdir DIR]

Takes a few minutes (generating 5,000 images dominates); writes results/inspect_speed.json.
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

RESULTS = Path(__file__).parent / "results" / "inspect_speed.json"
SIZES = (200, 2000, 5000)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def worker(root: Path) -> dict:
    """One inspect in this process: fingerprint, then plan; times and peak RSS of each stage."""
    from sparseg.data.fingerprint import fingerprint
    from sparseg.data.plan import propose_config

    before = peak_rss_mb()
    start = time.perf_counter()
    fp = fingerprint(root)
    fingerprinted = time.perf_counter()
    after_fingerprint = peak_rss_mb()
    propose_config(fp)  # as `sparseg inspect` does: detect the machine
    planned = time.perf_counter()
    return {
        "n_pairs": fp.n_pairs,
        "fingerprint_seconds": round(fingerprinted - start, 2),
        "plan_seconds": round(planned - fingerprinted, 2),
        "inspect_seconds": round(planned - start, 2),
        "rss_mb_before": round(before, 1),
        "peak_rss_mb_fingerprint": round(after_fingerprint, 1),
        "peak_rss_mb_inspect": round(peak_rss_mb(), 1),
    }


def link_subset(source: Path, target: Path, ids: list[str]) -> Path:
    for folder in ("images", "masks"):
        (target / folder).mkdir(parents=True, exist_ok=True)
        for sample_id in ids:
            destination = target / folder / f"{sample_id}.png"
            if not destination.exists():
                os.link(source / folder / f"{sample_id}.png", destination)
    return target


def run_in_fresh_process(root: Path) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, "--worker", str(root)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None, help="where the data sets go")
    parser.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.worker)))
        return

    from sparseg.data.synthetic import synthesize
    from sparseg.io_utils import atomic_write_json

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sparseg_inspect_"))
    full = workdir / f"syn{max(SIZES)}"
    start = time.perf_counter()
    ids = synthesize(full, n=max(SIZES), size=(256, 256), fg=0.005, empty=0.3, seed=0)
    synth_seconds = time.perf_counter() - start
    load_before = os.getloadavg()
    runs = {}
    for size in SIZES:
        root = full if size == max(SIZES) else link_subset(full, workdir / f"syn{size}", ids[:size])
        runs[str(size)] = run_in_fresh_process(root)
        print(f"{size:>5} pairs: {runs[str(size)]}", flush=True)
    growth = runs["5000"]["peak_rss_mb_inspect"] - runs["200"]["peak_rss_mb_inspect"]
    result = {
        "what": "sparseg inspect = fingerprint + propose_config, synthetic 256x256 8-bit PNG",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "synthesize_5000_seconds": round(synth_seconds, 1),
        "runs": runs,
        "goal_inspect_seconds_2000": 30,
        "meets_speed_goal": runs["2000"]["inspect_seconds"] <= 30,
        "peak_rss_growth_mb_200_to_5000": round(growth, 1),
    }
    atomic_write_json(RESULTS, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
