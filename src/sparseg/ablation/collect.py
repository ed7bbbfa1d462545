"""A sweep's table rows, collected from its run directories' small files alone (so a sweep
committed without checkpoints renders again anywhere), and its outputs written from them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sparseg.ablation.outputs import PLAN_NAME, SCORES, write_outputs
from sparseg.ablation.sweep import EVALUATION_FILE, FAILED_FILE
from sparseg.evaluation import blank_verdict
from sparseg.io_utils import read_json
from sparseg.run_layout import FOLD_PREFIX, METRICS_CSV, TRAIN_SUMMARY, RunPaths
from sparseg.training.convergence import run_convergence, stall_warning


def render_ablation(out_dir: Path) -> list[Path]:
    """Collect the runs of a (finished or partial) sweep in ``out_dir`` and write its outputs."""
    out_dir = Path(out_dir)
    plan = read_json(out_dir / PLAN_NAME)
    return write_outputs(out_dir, collect_rows(out_dir, plan), plan)


def collect_rows(out_dir: Path, plan: dict[str, Any]) -> list[dict[str, Any]]:
    """One csv row per (stage, seed) from the run directories' files."""
    rows = []
    for stage in plan["stages"]:
        for seed in plan["seeds"]:
            run_dir = Path(out_dir) / stage["slug"] / f"seed{seed}"
            row: dict[str, Any] = {
                "stage": stage["name"],
                "slug": stage["slug"],
                "seed": seed,
                "run_dir": str(run_dir),
            }
            row.update(_run_facts(run_dir, stage))
            rows.append(row)
    return rows


def _run_facts(run_dir: Path, stage: dict[str, Any]) -> dict[str, Any]:
    if stage.get("skipped"):
        return {"status": f"skipped: {stage['skipped']}"}
    facts: dict[str, Any] = {}
    paths = RunPaths(run_dir)
    folds = sorted(paths.root.glob(f"{FOLD_PREFIX}*/{TRAIN_SUMMARY}"))
    summaries = [read_json(path) for path in [paths.train_summary, *folds] if path.is_file()]
    if summaries:  # an ensemble's folds may have trained on different machines
        for key in ("steps", "epochs", "images_seen", "wall_seconds"):
            facts[key] = sum(float(summary.get(key) or 0) for summary in summaries)
        facts["precision"] = "+".join(sorted({s.get("precision") or "?" for s in summaries}))
        facts["restarts"] = float(sum(len(s.get("restarts") or []) for s in summaries))
    curves = [paths.metrics_csv, *(path.parent / METRICS_CSV for path in folds)]
    curves = [path for path in curves if path.is_file()]
    facts.update(_convergence([run_convergence(path) for path in curves]))
    if curves:  # converged, but on a network from the start of training: it did not learn
        facts["stalled"] = float(sum(stall_warning(path) is not None for path in curves))
    if (run_dir / EVALUATION_FILE).is_file():
        metrics = read_json(run_dir / EVALUATION_FILE)
        facts.update({name: float(metrics.get(name, float("nan"))) for name in SCORES})
        facts["blank"] = float(blank_verdict(metrics) is not None)
        return {**facts, "n_test_images": metrics.get("n_images"), "status": "done"}
    if (run_dir / FAILED_FILE).is_file():
        return {**facts, "status": (run_dir / FAILED_FILE).read_text(encoding="utf-8").strip()}
    return {**facts, "status": "not run" if not run_dir.exists() else "unfinished"}


def _convergence(trainings: list[tuple[float | None, bool | None]]) -> dict[str, float]:
    """A run of several trainings (folds) converged when every one of them did."""
    known = [(gain, converged) for gain, converged in trainings if converged is not None]
    if not known:
        return {"late_gain": math.nan, "converged": math.nan}
    return {
        "late_gain": max(gain for gain, _ in known if gain is not None),
        "converged": float(all(converged for _, converged in known)),
    }
