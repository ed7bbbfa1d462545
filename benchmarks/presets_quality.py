"""The presets side by side on real data: basic, budget, nnunet2d and the proposal that
`sparseg inspect --write-config` makes for each data set, at 15 CPU-minutes and at a fixed
2,000 optimizer steps per training, 3 seeds, on usgra_nerve, ms_lesjak_flair and synthetic
frames with 40 % empty (`sparseg synth --empty 0.4 --fg 0.005`). Not a test.

Each data set gets a ladder written beside its sweeps (its proposal differs per data set),
run by `sparseg ablate` into benchmarks/results/ablation/presets_<budget>/<set>/: resumable from
its committed run folders, so the sweep can span sessions and machines. The proposal is planned
once per data set for the 15-minute budget (`inspect --minutes 15`: timed on this machine) and
reused at 2,000 steps. budget and the proposal are tuned after training (their inference is part
of the recipe), basic and nnunet2d are evaluated as configured; nnunet2d trains on patches of the
median image's size (multiples of 32, at most 256 a side: a CPU's step).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/presets_quality.py [--budget 15min|2000steps] \
        [--sets a,b,c] [--jobs 2]

Two runs at a time, one core each, so that runs trained side by side meet the same pace of a
shared machine; the 15-minute budget needs the machine otherwise quiet. Cost on a 2-core CPU:
4 stages x 3 seeds x 15 minutes = 3 core-hours (1.5 hours of the machine) per data set at 15
minutes; 2,000 steps cost 0.5-2 s each by preset and input size.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import yaml

from sparseg.data.fingerprint import fingerprint

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results" / "ablation"
PRESETS = ROOT / "src" / "sparseg" / "config" / "presets"
SYNTHETIC = Path.home() / ".cache" / "sparseg-benchmarks" / "synth_empty40"
BUDGETS = {"15min": ["--minutes-per-run", "15"], "2000steps": ["--steps-per-run", "2000"]}
SETS = ("usgra_nerve", "ms_lesjak_flair", "synth_empty40")
SPLITS = {"ms_lesjak_flair": DATA / "ms_lesjak_flair" / "split.json"}


def sparseg(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "sparseg", *args], check=True)


def data_root(name: str) -> Path:
    """The data set's folder; the synthetic frames are made once, outside the repository."""
    if name != "synth_empty40":
        return DATA / name
    if not (SYNTHETIC / "images").is_dir():
        shape = ["--n", "300", "--size", "256x256", "--fg", "0.005", "--empty", "0.4"]
        sparseg("synth", str(SYNTHETIC), *shape, "--seed", "0")
    return SYNTHETIC


def native_patch(data: Path) -> list[int]:
    """nnunet2d's patch: the median image, floored to multiples of 32, at most 256 a side."""
    sizes = fingerprint(data).image_size
    sides = (sizes.height.median, sizes.width.median)
    return [max(64, min(256, int(side // 32) * 32)) for side in sides]


def relative(path: Path, folder: Path) -> str:
    """``path`` as the ladder names it: relative to the ladder's folder, so a clone elsewhere
    reads the same ladder."""
    return os.path.relpath(path, folder)


def ladder_for(name: str, data: Path) -> Path:
    """This data set's ladder (and its proposal), written once beside its sweeps."""
    folder = RESULTS / "presets_ladders" / name
    ladder = folder / "ladder.yaml"
    if ladder.is_file():
        return ladder
    folder.mkdir(parents=True, exist_ok=True)
    proposal = folder / "proposed.yaml"
    sparseg("inspect", str(data), "--minutes", "15", "--write-config", str(proposal))
    stages = [
        {"name": "basic", "note": "configs/basic.yaml as configured."},
        {"name": "budget", "base": relative(PRESETS / "budget.yaml", folder), "tune": True},
        {
            "name": "nnunet2d",
            "base": relative(PRESETS / "nnunet2d.yaml", folder),
            "note": "patches of the native images, at most 256 px a side (a CPU's step)",
            "overrides": {"data.input_size": native_patch(data)},
        },
        {"name": "proposal", "base": proposal.name, "tune": True},
    ]
    spec = {
        "description": f"basic, budget, nnunet2d and the proposal for {name}",
        "base": relative(PRESETS / "basic.yaml", folder),
        "mode": "cumulative",
        "stages": stages,
    }
    ladder.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return ladder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", choices=list(BUDGETS), default="15min")
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="runs at once")
    args = parser.parse_args()
    for name in args.sets.split(","):
        data = data_root(name)
        out = RESULTS / f"presets_{args.budget}" / name
        command = ["ablate", "--data", str(data), "--ladder", str(ladder_for(name, data))]
        command += ["--seeds", str(args.seeds), "--jobs", str(args.jobs), "--out", str(out)]
        command += BUDGETS[args.budget]
        if name in SPLITS:
            command += ["--split", str(SPLITS[name])]
        sparseg(*command)


if __name__ == "__main__":
    main()
