"""Leave-one-subject-out on ms_lesjak_nifti (3 MS subjects, 3 folds): FLAIR alone vs
FLAIR + T1 + T2, per-volume 3D Dice and lesion-wise F1 beside the slice-level figures. Not a test.

Each fold tests on one subject it never saw. Its two other subjects train; with only two, no
whole subject can be spared for validation, so the middle ``--val-slab`` share of each
training subject's kept slices (one contiguous slab along the slice axis, the least correlated
choice; the middle, because the top slab of a brain holds almost no lesions and selected
checkpoints that predict nothing) is the validation set for checkpoint selection and
``sparseg tune``: within-subject, and said so in the results. The budget is a fixed number of
optimizer steps per fold (``--steps``), so machine load changes the wall time, not the result.
Every run is the ordinary pipeline as subprocesses: ``sparseg train`` (configs/budget.yaml
with the overrides below), ``sparseg tune``, ``sparseg evaluate --subset test``. FLAIR alone
reads a folder of symbolic links to the ``_0000`` files (nothing is copied). Writes
benchmarks/results/volumes_loso.{json,md}.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/volumes_loso.py --steps 700 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ms_lesjak_nifti"
RESULTS = ROOT / "benchmarks" / "results"
VARIANTS = {"flair": 1, "flair_t1_t2": 3}  # name → channel files used (_0000 first)
SLICE_HEADLINES = ("dice_per_image_empty_is_one", "dice_nonempty_truth", "dice_pooled")
ANCHORS = (
    "Anchors from the literature, not measured here: nnU-Net-style MS-lesion segmentation with "
    "tens of training subjects typically reaches 3D Dice 0.6-0.7 and lesion-wise F1 about "
    "0.5-0.65. These folds train on two subjects."
)


def sparseg(*args: str) -> list[str]:
    return [sys.executable, "-m", "sparseg", *map(str, args)]


def run(command: list[str]) -> None:
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")


def data_view(variant: str, work: Path) -> Path:
    """The data folder a variant reads: the original, or links to its first channels only."""
    channels = VARIANTS[variant]
    if channels == 3:
        return DATA
    view = work / f"data_{variant}"
    for folder in ("imagesTr", "labelsTr"):
        (view / folder).mkdir(parents=True, exist_ok=True)
    for source in sorted((DATA / "imagesTr").glob("*.nii.gz")):
        if int(source.name.split("_")[-1][:4]) < channels:
            link = view / "imagesTr" / source.name
            if not link.exists():
                link.symlink_to(source)
    for source in sorted((DATA / "labelsTr").glob("*.nii.gz")):
        link = view / "labelsTr" / source.name
        if not link.exists():
            link.symlink_to(source)
    return view


def fold_split(data: Path, test_subject: str, val_slab: float) -> dict[str, list[str]]:
    """Test: every slice of ``test_subject``; val: the middle slab of each other subject."""
    from sparseg.data.discovery import discover_items

    by_case: dict[str, list] = {}
    for item in discover_items(data):
        by_case.setdefault(item.group, []).append(item)
    split: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for case, items in sorted(by_case.items()):
        ids = [p.id for p in sorted(items, key=lambda p: p.slice_index)]
        if case == test_subject:
            split["test"] += ids
            continue
        size = max(1, round(val_slab * len(ids)))
        start = (len(ids) - size) // 2
        split["train"] += ids[:start] + ids[start + size :]
        split["val"] += ids[start : start + size]
    return split


def one_fold(variant: str, test_subject: str, args: argparse.Namespace) -> dict:
    work = args.work / run_name(args)
    data = data_view(variant, work)
    run_dir = work / variant / test_subject
    done = (
        args.results.parent
        / "volumes_loso_folds"
        / f"{run_name(args)}_{variant}_{test_subject}.json"
    )
    if done.is_file():  # committed: a rerun, here or on another machine, does not redo the fold
        return json.loads(done.read_text())
    split_file = work / f"split_{test_subject}.json"
    split_file.parent.mkdir(parents=True, exist_ok=True)
    split_file.write_text(json.dumps(fold_split(data, test_subject, args.val_slab), indent=1))
    overrides = [
        "training.max_minutes=null",
        f"training.max_steps={args.steps}",
        "training.max_epochs=100000",
        f"training.steps_per_epoch={args.steps_per_epoch}",
        f"data.input_size=[{args.input_size[0]}, {args.input_size[1]}]",
        f"seed={args.seed}",
        *args.set,
    ]
    if not (run_dir / "train_summary.json").is_file():
        train = sparseg(
            "train",
            "--config",
            ROOT / "configs" / "budget.yaml",
            "--data",
            data,
            "--split",
            split_file,
            "--out",
            run_dir,
            "--quiet",
        )
        for override in overrides:
            train += ["--set", override]
        run(train + (["--resume"] if run_dir.exists() else []))
    run(sparseg("tune", "--run", run_dir, "--data", data, "--split", split_file))
    metrics = run_dir / "test_metrics.json"
    run(
        sparseg(
            "evaluate",
            "--run",
            run_dir,
            "--data",
            data,
            "--split",
            split_file,
            "--subset",
            "test",
            "--json",
            metrics,
        )
    )
    scores = json.loads(metrics.read_text())
    summary = json.loads((run_dir / "train_summary.json").read_text())
    (volume,) = scores["volumes"]["per_volume"]
    row = {
        "variant": variant,
        "test_subject": test_subject,
        "per_volume": volume,
        "slices": {name: scores[name] for name in SLICE_HEADLINES},
        "n_test_slices": scores["n_images"],
        "steps": summary["steps"],
        "train_wall_seconds": summary["wall_seconds"],
        "overrides": overrides,
        "lesion_matching": scores["volumes"]["lesion_matching"],
    }
    done.parent.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(row, indent=1))
    return row


def tag_suffix(args: argparse.Namespace) -> str:
    """``_<tag>`` for a variation given with ``--set``, else nothing."""
    return f"_{args.tag}" if args.tag else ""


def run_name(args: argparse.Namespace) -> str:
    """``700steps``, or ``700steps_<tag>`` for a variation."""
    return f"{args.steps}steps{tag_suffix(args)}"


def pooled(rows: list[dict]) -> dict:
    """Over the three test volumes: mean per-volume figures, and Dice / lesion F1 pooled."""
    volumes = [row["per_volume"] for row in rows]
    tp, fp, fn = (sum(v[key] for v in volumes) for key in ("tp", "fp", "fn"))
    precision = sum(v["pred_lesions_true"] for v in volumes) / max(
        1, sum(v["n_pred_lesions"] for v in volumes)
    )
    recall = sum(v["lesions_detected"] for v in volumes) / max(
        1, sum(v["n_lesions"] for v in volumes)
    )
    return {
        "dice_3d_mean": sum(v["dice_3d"] or 0.0 for v in volumes) / len(volumes),
        "lesion_f1_mean": sum(v["lesion_f1"] or 0.0 for v in volumes) / len(volumes),
        "dice_3d_pooled": 2 * tp / max(1, 2 * tp + fp + fn),
        "lesion_f1_pooled": 2 * precision * recall / (precision + recall)
        if precision + recall
        else 0.0,
        **{
            f"slice_{name}_mean": sum(row["slices"][name] or 0.0 for row in rows) / len(rows)
            for name in SLICE_HEADLINES
        },
    }


def markdown(rows: list[dict], summaries: dict[str, dict], args: argparse.Namespace) -> str:
    lines = [
        f"# Leave-one-subject-out on ms_lesjak_nifti: {args.steps} optimizer steps per fold",
        "",
        f"configs/budget.yaml, input {args.input_size[0]}x{args.input_size[1]}, seed "
        f"{args.seed}, axial slices (slice_axis auto = 2), keep_slices nonzero; validation = "
        f"middle {args.val_slab:.0%} slab of each training subject (within-subject)."
        + (f" Variation: {', '.join(args.set)}." if args.set else ""),
        "",
        "| variant | test subject | 3D Dice | lesion F1 | lesions (true/pred/detected) | "
        "HD95 mm | abs vol diff mL | slice Dice/image (empty=1) | slice Dice non-empty | "
        "slice Dice pooled | steps |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def cell(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    for row in rows:
        v, s = row["per_volume"], row["slices"]
        lines.append(
            f"| {row['variant']} | {row['test_subject']} | {cell(v['dice_3d'])} | "
            f"{cell(v['lesion_f1'])} | {v['n_lesions']}/{v['n_pred_lesions']}/"
            f"{v['lesions_detected']} | {cell(v['hd95_mm'])} | {cell(v['abs_volume_diff_ml'])} | "
            + " | ".join(cell(s[name]) for name in SLICE_HEADLINES)
            + f" | {row['steps']} |"
        )
    lines += [
        "",
        "| variant | 3D Dice mean | 3D Dice pooled | lesion F1 mean | lesion F1 "
        "pooled | slice Dice/image mean |",
        "|---|---|---|---|---|---|",
    ]
    for variant, s in summaries.items():
        lines.append(
            f"| {variant} | {s['dice_3d_mean']:.3f} | {s['dice_3d_pooled']:.3f} | "
            f"{s['lesion_f1_mean']:.3f} | {s['lesion_f1_pooled']:.3f} | "
            f"{s['slice_dice_per_image_empty_is_one_mean']:.3f} |"
        )
    lines += paired_lines(rows)
    lines += ["", ANCHORS, "", "Lesion matching: " + rows[0]["lesion_matching"], ""]
    return "\n".join(lines)


def paired_lines(rows: list[dict]) -> list[str]:
    """FLAIR + T1 + T2 minus FLAIR, paired by test subject, with the Student-t interval over
    folds (nan below two folds; with three folds the interval is wide by construction)."""
    from sparseg.ablation.stats import paired_gain

    by_fold = {(row["variant"], row["test_subject"]): row for row in rows}
    subjects = sorted(s for v, s in by_fold if v == "flair" and ("flair_t1_t2", s) in by_fold)
    if not subjects:
        return []
    lines = [
        "",
        f"FLAIR + T1 + T2 minus FLAIR, paired over {len(subjects)} test subjects "
        "(mean [95 % t-interval]; per fold):",
        "",
    ]
    for key, label in (("dice_3d", "3D Dice"), ("lesion_f1", "lesion F1")):
        before = [by_fold["flair", s]["per_volume"][key] or 0.0 for s in subjects]
        after = [by_fold["flair_t1_t2", s]["per_volume"][key] or 0.0 for s in subjects]
        mean, low, high = paired_gain(before, after)
        items = zip(subjects, before, after, strict=True)
        folds = ", ".join(f"{subject} {b - a:+.3f}" for subject, a, b in items)
        lines.append(f"- {label}: {mean:+.3f} [{low:+.3f}, {high:+.3f}]; {folds}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=700, help="optimizer steps per fold")
    parser.add_argument("--steps-per-epoch", type=int, default=100, help="validation cadence")
    parser.add_argument("--input-size", type=int, nargs=2, default=(224, 192))
    parser.add_argument("--val-slab", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--jobs", type=int, default=1, help="folds at once (one core each)")
    parser.add_argument("--subjects", nargs="+", help="test subjects (default: every subject)")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "runs" / "volumes_loso")
    parser.add_argument("--results", type=Path, help="default: results/volumes_loso[_TAG]")
    parser.add_argument("--set", action="append", default=[], help="extra config override")
    parser.add_argument("--tag", default="", help="names a variation given with --set")
    args = parser.parse_args()
    if bool(args.set) != bool(args.tag):
        parser.error("--set and --tag go together: a variation's folds need their own name")
    args.results = args.results or RESULTS / f"volumes_loso{tag_suffix(args)}"
    subjects = args.subjects or sorted(
        path.name.split(".")[0] for path in (DATA / "labelsTr").glob("*.nii.gz")
    )
    folds = [(variant, subject) for variant in args.variants for subject in subjects]
    for variant in args.variants:  # before the pool: two folds making the same links race
        data_view(variant, args.work / run_name(args))
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:  # each fold runs as subprocesses
        rows = list(pool.map(lambda fold: one_fold(*fold, args), folds))
    for row in rows:
        print(json.dumps({k: row[k] for k in ("variant", "test_subject", "slices")}), flush=True)
    summaries = {v: pooled([r for r in rows if r["variant"] == v]) for v in args.variants}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    payload = {"steps_per_fold": args.steps, "summaries": summaries, "folds": rows}
    args.results.with_suffix(".json").write_text(json.dumps(payload, indent=2) + "\n")
    text = markdown(rows, summaries, args)
    args.results.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
