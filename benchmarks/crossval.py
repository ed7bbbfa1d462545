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

Writes benchmarks/results/crossval/<set>/seed<k>/fold_K/ and benchmarks/results/crossval.{json,md};
the masks each comparison writes stay out of git (the probabilities and per-image CSVs remake
them).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from sparseg.config import InferenceConfig
from sparseg.data.discovery import discover_items
from sparseg.data.splits import load_split, make_splits, save_split
from sparseg.inference.crossval import crossval
from sparseg.inference.evaluate import evaluate_runs, score_predictions
from sparseg.inference.predictor import Predictor, load_inference_config
from sparseg.inference.tune import tune
from sparseg.io_utils import atomic_write_json, atomic_write_text, ensure_output_dir, read_json
from sparseg.run_layout import HEADLINE_METRIC, PER_IMAGE_CSV, RunPaths

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
    ids = [item.id for item in discover_items(DATA / name)]
    base = load_split(BASE_SPLITS[name], 0, ids)
    pool = sorted(set(ids) - set(base.test))
    folds = make_splits(pool, FOLDS, 0.0, 0, GROUPS[name])["folds"]
    path.parent.mkdir(parents=True, exist_ok=True)
    save_split({"test": base.test, "folds": folds}, path)
    return path


def train_phase(name: str, seed: int) -> Path:
    """Train the field guide's folds; each fold then saves its validation and test probabilities."""
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


WITH_TARGET = "dice_nonempty_truth"
WAYS = {
    "a": "best single fold, tuned on its own validation",
    "b": "fold ensemble tuned on fold 0",
    "c": "fold ensemble tuned out-of-fold",
}
RESAMPLES = 2000


def finished(folder: Path) -> bool:
    return all(
        RunPaths(folder).fold(k).train_summary.is_file()
        and RunPaths(folder).fold(k).probabilities.is_file()
        for k in range(FOLDS)
    )


def compare_phase(name: str, seed: int) -> dict | None:
    """Out-of-fold scores, then (a), (b) and (c) on the test split, from the saved files."""
    folder = OUT / name / f"seed{seed}"
    result_file = folder / "compare.json"
    if result_file.is_file():
        return read_json(result_file)
    if not finished(folder):
        return None
    data, split = DATA / name, fold_split(name)
    out = folder / "compare"
    cv = crossval(folder, data, out / "crossval_untuned")
    folds = [RunPaths(folder).fold(k).root for k in range(FOLDS)]
    own = {fold: tune(fold, data) for fold in folds}
    best = max(folds, key=lambda fold: own[fold]["tuned_val_dice"])
    results = {
        "a": evaluate_runs([best], data, out_dir=out / "a_best_fold"),
    }
    fold0_tuned = load_inference_config(folds[0], InferenceConfig())
    ensemble = Predictor([folder], inference=fold0_tuned)
    items = {item.id: item for item in discover_items(data)}
    test = [items[i] for i in load_split(split, 0, items).test]
    scored = score_predictions(ensemble, test, ensure_output_dir(out / "b_fold0_tuned", data))
    results["b"] = scored.write({"subset": "test"})
    oof = tune(folder, data)
    results["c"] = evaluate_runs([folder], data, out_dir=out / "c_out_of_fold_tuned")
    per_image = {
        way: read_per_image(out / f"{way}_{tail}" / PER_IMAGE_CSV)
        for way, tail in (("a", "best_fold"), ("b", "fold0_tuned"), ("c", "out_of_fold_tuned"))
    }
    summary = {
        "set": name,
        "seed": seed,
        "out_of_fold": {
            "pooled": {k: cv[k] for k in (HEADLINE_METRIC, WITH_TARGET, "dice_pooled")},
            "per_fold": [fold[HEADLINE_METRIC] for fold in cv["per_fold"]],
            "per_fold_with_target": [fold[WITH_TARGET] for fold in cv["per_fold"]],
        },
        "best_fold": best.name,
        "thresholds": {
            "a": own[best]["inference"]["threshold"],
            "b": own[folds[0]]["inference"]["threshold"],
            "c": oof["inference"]["threshold"],
        },
        "test": {
            way: {k: results[way][k] for k in (HEADLINE_METRIC, WITH_TARGET, "dice_pooled")}
            for way in WAYS
        },
        "per_image": per_image,
    }
    atomic_write_json(result_file, summary)
    return summary


def read_per_image(path: Path) -> dict[str, dict[str, float]]:
    """Per test image: its Dice (empty vs empty = 1) and whether its truth has a target."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {
        row["id"]: {
            "dice": float(row["dice"]) if row["dice"] else 1.0,  # empty both: counted as 1
            "target": int(row["tp"]) + int(row["fn"]) > 0,
        }
        for row in rows
    }


def paired_bootstrap(results: list[dict], first: str, second: str, target_only: bool) -> dict:
    """Mean per-image Dice of ``second`` minus ``first`` over (seed, test image) pairs, with a
    95 % bootstrap interval over those pairs."""
    differences = [
        result["per_image"][second][item]["dice"] - result["per_image"][first][item]["dice"]
        for result in results
        for item, row in result["per_image"][first].items()
        if row["target"] or not target_only
    ]
    values = np.asarray(differences)
    rng = np.random.default_rng(0)
    means = values[rng.integers(0, values.size, (RESAMPLES, values.size))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return {"mean": float(values.mean()), "low": float(low), "high": float(high), "n": values.size}


def render(by_set: dict[str, list[dict]]) -> str:
    lines = [
        "# Fold ensembles tuned out-of-fold",
        "",
        f"`benchmarks/crossval.py`: `budget`, {FOLDS}-fold cross-validation, {STEPS} optimizer "
        "steps per fold, test split as in the rest of the evidence. "
        + "; ".join(f"({way}) {text}" for way, text in WAYS.items())
        + ". Out-of-fold: untuned (threshold 0.5). Gains: per test image, paired over "
        f"(seed, image), 95 % bootstrap intervals ({RESAMPLES} resamples).",
        "",
        "| set | seed | out-of-fold Dice per image (per fold) | pooled, images with a target | "
        "best fold | thresholds a / b / c | test (a) | test (b) | test (c) | "
        "images with a target (a) / (b) / (c) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, results in by_set.items():
        for r in results:
            oof, test, t = r["out_of_fold"], r["test"], r["thresholds"]
            per_fold = ", ".join(f"{d:.3f}" for d in oof["per_fold"])
            lines.append(
                f"| {name} | {r['seed']} | {oof['pooled'][HEADLINE_METRIC]:.3f} ({per_fold}) | "
                f"{oof['pooled'][WITH_TARGET]:.3f} | {r['best_fold']} | "
                f"{t['a']:g} / {t['b']:g} / {t['c']:g} | "
                + " | ".join(f"{test[w][HEADLINE_METRIC]:.3f}" for w in WAYS)
                + " | "
                + " / ".join(_number(test[w][WITH_TARGET]) for w in WAYS)
                + " |"
            )
    lines += ["", "| set | images | (c) − (a) | (c) − (b) |", "|---|---|---|---|"]
    for name, results in by_set.items():
        if not results:
            continue
        for label, target_only in (("all test images", False), ("images with a target", True)):
            gains = [paired_bootstrap(results, w, "c", target_only) for w in ("a", "b")]
            cells = " | ".join(
                f"{g['mean']:+.3f} [{g['low']:+.3f}, {g['high']:+.3f}] (n={g['n']})" for g in gains
            )
            lines.append(f"| {name} | {label} | {cells} |")
    return "\n".join(lines) + "\n"


def _number(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"


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
    if args.phase in ("compare", "all"):
        by_set = {name: [] for name in sets}
        for name in sets:
            for seed in range(args.seeds):
                result = compare_phase(name, seed)
                if result is not None:
                    by_set[name].append(result)
        atomic_write_json(RESULTS / "crossval.json", by_set)
        atomic_write_text(RESULTS / "crossval.md", render(by_set))
        print(render(by_set))


if __name__ == "__main__":
    main()
