"""Does in-domain pretraining (`sparseg pretrain`) pay on a CPU, and how should M minutes be split
between pretraining and fine-tuning? The measurement behind the budget rule
(sparseg.data.pretrain_budget) and the field guide's timeline's "+ pre-trained encoder" row.

On usgra_nerve and ms_lesjak_flair (their split.json; pretraining reads every non-test image,
labels ignored), paired over seeds, fine-tuning from in-domain weights against training from
scratch, each comparison one `sparseg ablate` sweep of two stages:

- equal_total: the same total wall-clock budget, pretraining minutes counted (default 15 = 5
  pretraining + 10 fine-tuning, against 15 from scratch);
- equal_steps: the same fine-tuning budget, 1,000 optimiser steps each (pretraining extra);
- half_labels (usgra_nerve): as equal_steps with half of the labelled training images (seeded),
  where pretraining is claimed to pay most.

The network is what `inspect --minutes 15` proposes on a CPU and the budget levers kept
(configs/budget.yaml with resnet18, decoder [128, 64, 32, 16, 8], 128², batch 12). A seed's
weights are made once per data set and shared by its three sweeps (same network, data and
pretraining). Resumable: run it again and finished runs are kept. Wall-clock budgets need a quiet
machine: run nothing else meanwhile. Two runs at a time, one core each (OMP_NUM_THREADS=1): the
scratch arm of a seed beside its pretrained arm, so a change in a shared machine's pace during the
sweep meets both arms of a pair (docs/pretraining.md says how each sweep ran). Expected cost on
the 2-core CPU: about 5½ hours of two cores (per seed: 5 pretraining + 25 equal_total + ~14
equal_steps + ~14 half_labels minutes on usgra_nerve at ~0.4 s a step, ~46 on ms_lesjak_flair,
plus evaluation).

Writes benchmarks/results/pretrain/{summary.json,summary.csv,summary.md}: each comparison's
paired gain in test Dice with its 95 % interval, and the MeasuredSplit entry for
sparseg.data.pretrain_budget.MEASURED_SPLITS with what the rule would then propose. Not a test.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/pretrain_budget.py [--seeds 3] \\
        [--sets usgra_nerve] [--comparisons equal_total]
    .venv/bin/python benchmarks/pretrain_budget.py --comparisons none  # the summary alone
    .venv/bin/python benchmarks/pretrain_budget.py --smoke --out /tmp/pretrain_smoke  # toy size
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import yaml

from sparseg.ablation import SweepSettings, run_ablation
from sparseg.ablation.layout import CSV_NAME, PRETRAINED_DIR
from sparseg.ablation.rows import SweepRow, read_csv
from sparseg.ablation.stats import paired_gain
from sparseg.data.pretrain_budget import MeasuredSplit, pretrain_split
from sparseg.data.synthetic import synthesize
from sparseg.io_utils import atomic_write_json, atomic_write_text, read_json
from sparseg.run_layout import HEADLINE_METRIC

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DATASETS = ("usgra_nerve", "ms_lesjak_flair")
HALF_LABELS_ON = "usgra_nerve"
WITH_TARGET = "dice_nonempty_truth"
NETWORK = {
    "model.encoder": "resnet18",
    "model.decoder_channels": [128, 64, 32, 16, 8],
    "training.batch_size": 12,
}
TOY = {
    "data.input_size": [64, 64],
    "model.encoder": "resnet18",
    "model.decoder_channels": [32, 16, 16, 8, 8],
    "training.batch_size": 4,
    "evaluation.bootstrap": 20,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="runs at once: 2 puts a pair's arms side by side, so a change in the machine's pace "
        "meets both",
    )
    parser.add_argument("--total-minutes", type=float, default=15.0)
    parser.add_argument("--pretrain-minutes", type=float, default=5.0)
    parser.add_argument("--steps", type=int, default=1000, help="fine-tuning steps (equal_steps)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/pretrain")
    parser.add_argument("--sets", default=",".join(DATASETS), help="comma-separated data sets")
    parser.add_argument(
        "--comparisons",
        default="equal_total,equal_steps,half_labels",
        help="comma-separated; equal_total is wall-clock bound (a quiet machine), the others "
        "step-bound (run after equal_total, which makes the weights they share)",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="toy size on synthetic images, seconds per run"
    )
    args = parser.parse_args()
    network, sets = NETWORK, {name: SHARED / name for name in args.sets.split(",")}
    total, pretrain = args.total_minutes, args.pretrain_minutes
    if args.smoke:
        network, sets = TOY, {"synthetic": _toy_data(args.out / "data")}
        total, pretrain, args.steps = 0.3, 0.1, 20
    comparisons = {
        "equal_total": [
            {"name": f"scratch, {total:g} min", "overrides": _budget(network, total, None)},
            {
                "name": f"pretrained {pretrain:g} + {total - pretrain:g} min",
                "pretrain": {"minutes": pretrain},
                "overrides": {"training.max_minutes": total - pretrain},
            },
        ],
        "equal_steps": [
            {
                "name": f"scratch, {args.steps} steps",
                "overrides": _budget(network, None, args.steps),
            },
            {
                "name": f"pretrained {pretrain:g} min, {args.steps} steps",
                "pretrain": {"minutes": pretrain},
            },
        ],
    }
    comparisons["half_labels"] = comparisons["equal_steps"]
    chosen = args.comparisons.split(",")
    for name, data in sets.items():
        for comparison, stages in comparisons.items():
            if comparison not in chosen:
                continue
            if comparison == "half_labels" and name not in (HALF_LABELS_ON, "synthetic"):
                continue
            sweep = args.out / name / comparison
            split = _split(data, args.out / name, half=comparison == "half_labels")
            _share_weights(args.out / name, sweep)
            ladder = _ladder(args.out / name / "ladders", comparison, stages)
            settings = SweepSettings(seeds=args.seeds, split_file=split, jobs=args.jobs)
            run_ablation(data, ladder, sweep, settings)
            _share_weights(args.out / name, sweep)
    # Every sweep finished so far, also those of data sets left out by --sets this time.
    rows = [
        gain
        for name in (*DATASETS, "synthetic")
        for comparison in comparisons
        if (args.out / name / comparison / CSV_NAME).is_file()
        for gain in _gains(name, comparison, args.out / name / comparison)
    ]
    _write(args.out, rows, total, pretrain)


def _budget(network: dict[str, Any], minutes: float | None, steps: int | None) -> dict[str, Any]:
    return {**network, "training.max_minutes": minutes, "training.max_steps": steps}


def _toy_data(folder: Path) -> Path:
    if not (folder / "images").is_dir():
        synthesize(folder, n=24, size=(64, 64), fg=0.04, empty=0.2, seed=0)
    return folder


def _split(data: Path, folder: Path, half: bool) -> Path:
    """The data set's split.json (a seeded default one for toy data); ``half``: with half of
    its training ids, the same validation and test ids."""
    given = data / "split.json"
    if not given.is_file():
        ids = sorted(path.stem for path in (data / "images").iterdir())
        random.Random(0).shuffle(ids)
        given = folder / "split.json"
        if not given.is_file():
            tenth = max(2, len(ids) // 6)
            content = {
                "train": ids[2 * tenth :],
                "val": ids[:tenth],
                "test": ids[tenth : 2 * tenth],
            }
            atomic_write_json(given, content)
    if not half:
        return given
    halved = folder / "split_half_labels.json"
    if not halved.is_file():
        content = read_json(given)
        train = sorted(content["train"])
        random.Random(0).shuffle(train)
        atomic_write_json(halved, {**content, "train": sorted(train[: len(train) // 2])})
    return halved


def _ladder(folder: Path, comparison: str, stages: list[dict[str, Any]]) -> Path:
    path = folder / f"{comparison}.yaml"
    ladder = {
        "description": f"in-domain pretraining against training from scratch: {comparison}",
        "base": os.path.relpath(ROOT / "configs/budget.yaml", folder),
        "stages": stages,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(ladder, sort_keys=False))
    return path


def _share_weights(data_folder: Path, sweep: Path) -> None:
    """Hard-link every pretraining this data set's sweeps made into ``sweep``'s folder: the file
    names are digests of network, data and pretraining, so a sweep only picks up its own."""
    made = {p.name: p for p in data_folder.glob(f"*/{PRETRAINED_DIR}/*") if p.is_file()}
    target = sweep / PRETRAINED_DIR
    for name, source in made.items():
        if not (target / name).exists():
            target.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target / name)
            except OSError:
                shutil.copyfile(source, target / name)


def _gains(data_set: str, comparison: str, sweep: Path) -> list[dict[str, Any]]:
    """The pretrained stage's paired gain over the scratch stage, per Dice convention."""
    table: dict[str, dict[int, SweepRow]] = {}
    for row in read_csv(sweep / CSV_NAME):
        if row.status == "done":
            table.setdefault(row.slug, {})[row.seed] = row
    if len(table) < 2:
        return []
    scratch, pretrained = (table[slug] for slug in sorted(table))
    seeds = sorted(set(scratch) & set(pretrained))
    if not seeds:
        return []
    rows = []
    for metric in (HEADLINE_METRIC, WITH_TARGET):
        before = [scratch[s].score(metric) for s in seeds]
        after = [pretrained[s].score(metric) for s in seeds]
        gain, low, high = paired_gain(before, after)
        rows.append(
            {
                "data_set": data_set,
                "comparison": comparison,
                "metric": metric,
                "seeds": len(seeds),
                "scratch": sum(before) / len(seeds),
                "pretrained": sum(after) / len(seeds),
                "gain": gain,
                "low": low,
                "high": high,
            }
        )
    return rows


def _write(out: Path, rows: list[dict[str, Any]], total: float, pretrain: float) -> None:
    headline = [
        r for r in rows if r["comparison"] == "equal_total" and r["metric"] == HEADLINE_METRIC
    ]
    evidence = [
        MeasuredSplit(
            total, pretrain, *(round(r[k], 4) for k in ("gain", "low", "high")), (r["data_set"],)
        )
        for r in headline
        if r["seeds"] >= 2
    ]
    proposal = pretrain_split(total, evidence)
    summary = {
        "rows": rows,
        "measured_splits": [vars(e) | {"data_sets": list(e.data_sets)} for e in evidence],
        "rule_with_this_evidence": proposal.as_dict(),
    }
    atomic_write_json(out / "summary.json", summary)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["data_set"])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "summary.csv", buffer.getvalue())
    lines = [
        "# In-domain pretraining against training from scratch",
        "",
        "Paired gain in test Dice (pretrained − scratch) over seeds, 95 % Student-t interval.",
        "",
        "| data set | comparison | Dice | seeds | scratch | pretrained | gain [95 % interval] |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['data_set']} | {r['comparison']} | {r['metric']} | {r['seeds']} | "
            f"{r['scratch']:.3f} | {r['pretrained']:.3f} | "
            f"{r['gain']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}] |"
        )
    lines += ["", f"The rule with this evidence: {proposal.reason}", ""]
    lines += ["For sparseg/data/pretrain_budget.py:", "", "```python"]
    lines += ["MEASURED_SPLITS: tuple[MeasuredSplit, ...] = ("]
    lines += [f"    {_entry(e)}," for e in evidence] + [")", "```", ""]
    atomic_write_text(out / "summary.md", "\n".join(lines))
    print(json.dumps(summary["rule_with_this_evidence"], indent=1))


def _entry(measured: MeasuredSplit) -> str:
    """One MEASURED_SPLITS entry as the source writes it (positional, formatted as ruff would)."""
    fields = (measured.total_minutes, measured.pretrain_minutes, measured.gain, measured.low)
    numbers = ", ".join(f"{value!r}" for value in (*fields, measured.high))
    names = ", ".join(f'"{name}"' for name in measured.data_sets)
    trailing = "," if len(measured.data_sets) == 1 else ""
    return f"MeasuredSplit({numbers}, ({names}{trailing}))"


if __name__ == "__main__":
    main()
