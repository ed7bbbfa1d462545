"""Fold ensembles tuned out-of-fold against the best single fold and against fold-0 tuning.

3-fold cross-validation of ``budget`` at a fixed 1,000 optimizer steps per fold on usgra_nerve
and ms_lesjak_flair, 2 seeds. Each fold saves its probabilities on its own validation images
(out-of-fold) and on the test images, so everything after training runs from committed files:

- out-of-fold Dice per fold and pooled (``sparseg crossval``, untuned: threshold 0.5);
- on the test split, paired over seeds: (a) the fold with the best tuned validation Dice, tuned
  on its own validation images; (b) the fold ensemble tuned on fold 0's validation images
  (sparseg's behaviour before cross-validation); (c) the fold ensemble tuned on the out-of-fold
  predictions of all folds (``sparseg tune --run`` on the fold folder).

The test split is each set's usual one (usgra_nerve: the budget ladder's; ms_lesjak_flair: the
shipped one, subject patient26); the folds split the rest. ms_lesjak_flair's two remaining
subjects cannot make three folds by subject, so its folds are blocks of 10 adjacent slices
(``patient07_z03*``): neighbouring slices still share a fold boundary now and then, which makes
its out-of-fold figures slightly optimistic; the test subject is never seen.

Resumable: a fold that ended keeps its ``train_summary.json`` and saved probabilities (the
checkpoints stay on the machine and are not committed), and a phase that finished keeps its
JSON. A fixed step budget, so the machine's load changes the wall time only. Not a test.

    .venv/bin/python benchmarks/crossval.py [--phase train|compare|all] [--seeds 2]

Writes benchmarks/results/crossval/<set>/seed<k>/fold_K/ and benchmarks/results/crossval.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from sparseg.data.pairs import discover_pairs
from sparseg.data.splits import load_split, make_splits, save_split
from sparseg.run_layout import RunPaths

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
OUT = RESULTS / "crossval"
STEPS = 1000
FOLDS = 3
BASE_SPLITS = {
    "usgra_nerve": RESULTS
    / "ablation/budget_cpu_5min/usgra_nerve/03-adamw-high-lr-warm-up-cosine/seed0/split.json",
    "ms_lesjak_flair": DATA / "ms_lesjak_flair" / "split.json",
}
# Blocks of 10 adjacent axial slices (see the module docstring); usgra's frames are independent.
GROUPS = {"usgra_nerve": None, "ms_lesjak_flair": r"^(patient\d+_z\d\d)"}


def sparseg(*args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    subprocess.run([sys.executable, "-m", "sparseg", *args], check=True, env=env)


def fold_split(name: str) -> Path:
    """The set's 3-fold split: its usual test ids, the rest in folds (made once, committed)."""
    path = OUT / name / f"split_{FOLDS}folds.json"
    if path.is_file():
        return path
    ids = [pair.id for pair in discover_pairs(DATA / name)]
    base = load_split(BASE_SPLITS[name], 0, ids)
    pool = sorted(set(ids) - set(base.test))
    folds = make_splits(pool, FOLDS, 0.0, 0, GROUPS[name])["folds"]
    path.parent.mkdir(parents=True, exist_ok=True)
    save_split({"test": base.test, "folds": folds}, path)
    return path


def train_phase(name: str, seed: int) -> Path:
    """Train the seed's folds; each fold then saves its validation and test probabilities."""
    split = fold_split(name)
    folder = OUT / name / f"seed{seed}"
    steps = ["--set", "training.max_minutes=null", "--set", f"training.max_steps={STEPS}"]
    for fold in range(FOLDS):
        paths = RunPaths(folder).fold(fold)
        if paths.probabilities.is_file() and paths.train_summary.is_file():
            continue
        if not paths.train_summary.is_file():
            args = ["train", "--data", str(DATA / name), "--config", "budget"]
            args += ["--out", str(paths.root), "--split", str(split), "--fold", str(fold)]
            args += ["--set", f"seed={seed}", *steps, "--quiet"]
            sparseg(*args, *(["--resume"] if paths.last.is_file() else []))
        args = ["save-probabilities", "--run", str(paths.root), "--data", str(DATA / name)]
        sparseg(
            *args, "--split", str(split), "--fold", str(fold), "--subset", "val", "--subset", "test"
        )
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", choices=("train", "compare", "all"), default="all")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--sets", default="usgra_nerve,ms_lesjak_flair")
    args = parser.parse_args()
    sets = args.sets.split(",")
    if args.phase in ("train", "all"):
        for seed in range(args.seeds):
            for name in sets:
                train_phase(name, seed)


if __name__ == "__main__":
    main()
