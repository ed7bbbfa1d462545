"""Quality at a fixed CPU budget: the basic, recipe and budget presets on the real data sets in
../shared/data, same budget, same machine, same run of this script. Not a test.

Each (data set, preset) is the ordinary pipeline run as subprocesses — `sparseg train` with
`training.max_minutes`, `sparseg tune`, `sparseg evaluate --subset test` — and the peak RSS of
each training process is sampled with psutil. Writes benchmarks/results/quality.{json,md}.

    .venv/bin/python benchmarks/quality.py --minutes 15
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
DATASETS = {
    # the data set's own 40-id test split
    "usgra_nerve": SHARED / "usgra_nerve" / "split.json",
    # subject-grouped: patients 07 and 19 train/val, patient26 test
    "ms_lesjak_flair": SHARED / "ms_lesjak_flair" / "split.json",
}
PRESETS = ("basic", "recipe", "budget")
NO_WEIGHTS = ["model.encoder_weights=none"]  # no internet here: ImageNet weights can't be fetched
HEADLINES = (
    "dice_per_image_empty_is_one",
    "dice_nonempty_truth",
    "dice_ignore_empty",
    "dice_pooled",
)


def sparseg(*args: str) -> list[str]:
    return [sys.executable, "-m", "sparseg", *args]


def run_measured(command: list[str]) -> tuple[float, float]:
    """Run ``command``; return (wall seconds, peak RSS in MB of it and its children)."""
    start = time.monotonic()
    process = psutil.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    while process.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree))
        except psutil.Error:
            pass
        time.sleep(0.5)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {process.stderr.read()[-2000:]}")
    return time.monotonic() - start, peak / 2**20


def one_run(data: str, preset: str, minutes: float, out: Path) -> dict:
    run = out / data / preset
    split = DATASETS[data]
    data_dir = SHARED / data
    overrides = [
        f"training.max_minutes={minutes}",
        "training.max_epochs=100000",
        *(NO_WEIGHTS if preset == "recipe" else []),
    ]
    train = sparseg("train", "--config", str(ROOT / "configs" / f"{preset}.yaml"))
    train += ["--data", str(data_dir), "--split", str(split), "--out", str(run), "--quiet"]
    for override in overrides:
        train += ["--set", override]
    if not (run / "train_summary.json").is_file():
        if run.exists():
            train.append("--resume")
        seconds, peak_mb = run_measured(train)
    else:
        seconds, peak_mb = float("nan"), float("nan")
    subprocess.run(
        sparseg("tune", "--run", str(run), "--data", str(data_dir)),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    metrics = run / "test_metrics.json"
    subprocess.run(
        sparseg("evaluate", "--run", str(run), "--data", str(data_dir), "--json", str(metrics)),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    summary = json.loads((run / "train_summary.json").read_text())
    scores = json.loads(metrics.read_text())
    return {
        "data": data,
        "preset": preset,
        **{name: scores[name] for name in HEADLINES},
        "object_f1": scores.get("object_f1"),
        "steps": summary["steps"],
        "images_seen": summary["images_seen"],
        "train_wall_seconds": summary["wall_seconds"],
        "process_seconds": round(seconds, 1),
        "peak_rss_mb": round(peak_mb, 1),
        "overrides": overrides,
    }


def markdown(rows: list[dict], minutes: float) -> str:
    lines = [
        f"# Quality at a {minutes:g}-minute CPU budget (2 cores, seed 0, one run each)",
        "",
        "| data | preset | Dice/image (empty=1) | Dice non-empty | Dice ignore-empty | "
        "Dice pooled | object F1 | steps | images seen | train s | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [f"{row[name]:.3f}" for name in HEADLINES]
        f1 = row["object_f1"]
        cells.append("n/a" if f1 is None else f"{f1:.3f}")
        lines.append(
            f"| {row['data']} | {row['preset']} | "
            + " | ".join(cells)
            + f" | {row['steps']} | {row['images_seen']} | {row['train_wall_seconds']:.0f}"
            f" | {row['peak_rss_mb']:.0f} |"
        )
    lines.append("")
    for data in sorted({row["data"] for row in rows}):
        by_preset = {row["preset"]: row for row in rows if row["data"] == data}
        if "basic" in by_preset:
            base = by_preset["basic"][HEADLINES[0]]
            best = max(by_preset.values(), key=lambda row: row[HEADLINES[0]])
            ratio = best[HEADLINES[0]] / base if base > 0 else float("inf")
            lines.append(
                f"- {data}: best preset `{best['preset']}` ÷ basic = {ratio:.2f} "
                "on per-image Dice (goal ≥ 1.5)"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--data", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "runs")
    args = parser.parse_args()
    rows = []
    for data in args.data:
        for preset in args.presets:
            rows.append(one_run(data, preset, args.minutes, args.work / f"{args.minutes:g}min"))
            print(json.dumps(rows[-1]), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"quality_{args.minutes:g}min"
    stem.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(rows, args.minutes))
    print(markdown(rows, args.minutes))


if __name__ == "__main__":
    main()
