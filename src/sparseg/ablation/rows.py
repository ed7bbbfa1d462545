"""A sweep's rows, one per (stage, seed): read from the run folders' small files alone (so a sweep
committed without checkpoints renders again anywhere), and written to and read from
``ablation.csv``.

What the rows are made of is typed too: :class:`TrainingFacts` (a run's ``train_summary.json``
files, one per model) and :class:`EvaluationFacts` (its ``evaluation.json``).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparseg.ablation.layout import EVALUATION_FILE, FAILED_FILE, SweepPaths
from sparseg.ablation.manifest import StageRecord, SweepManifest
from sparseg.errors import SparsegError
from sparseg.evaluation import blank_verdict
from sparseg.evaluation.aggregate import CONVENTIONS
from sparseg.io_utils import atomic_write_text, read_json
from sparseg.run_layout import FOLD_PREFIX, METRICS_CSV, TRAIN_SUMMARY, RunPaths
from sparseg.training.convergence import run_convergence, stall_warning

SCORES = (*CONVENTIONS, "object_f1")
COLUMNS = (
    "stage",
    "slug",
    "seed",
    "status",
    *SCORES,
    "n_test_images",
    "steps",
    "epochs",
    "images_seen",
    "wall_seconds",
    "precision",
    "late_gain",
    "converged",
    "stalled",
    "blank",
    "restarts",
    "run_dir",
)
NAN = math.nan


@dataclass(frozen=True)
class TrainingFacts:
    """What a run's trainings recorded, summed over them (an ensemble's folds may have trained
    on different machines): precisions joined with ``+``, the channels of the first."""

    steps: float
    epochs: float
    images_seen: float
    wall_seconds: float
    step_seconds: float
    precision: str
    restarts: float
    in_channels: int | None

    @classmethod
    def read(cls, summaries: list[Path]) -> TrainingFacts:
        facts = [read_json(path) for path in summaries]

        def total(key: str) -> float:
            return sum(float(fact.get(key) or 0) for fact in facts)

        channels = facts[0].get("in_channels") if facts else None
        return cls(
            steps=total("steps"),
            epochs=total("epochs"),
            images_seen=total("images_seen"),
            wall_seconds=total("wall_seconds"),
            step_seconds=total("step_seconds"),
            precision="+".join(sorted({fact.get("precision") or "?" for fact in facts})),
            restarts=float(sum(len(fact.get("restarts") or []) for fact in facts)),
            in_channels=int(channels) if channels else None,
        )


@dataclass(frozen=True)
class EvaluationFacts:
    """A run's test scores (NaN where ``evaluation.json`` lacks one), its image count, and whether
    its model was blank there (:func:`sparseg.evaluation.blank_verdict`)."""

    scores: dict[str, float]
    n_images: float
    blank: bool

    @classmethod
    def read(cls, path: Path) -> EvaluationFacts:
        metrics = read_json(path)
        n_images, recall = metrics.get("n_images"), metrics.get("recall_pooled")
        verdict = blank_verdict(
            n_images=int(n_images or 0),
            n_empty_truth=int(metrics.get("n_empty_truth", 0)),
            n_empty_pred=int(metrics.get("n_empty_pred", 0)),
            recall_pooled=NAN if recall is None else float(recall),
        )
        return cls(
            scores={name: float(metrics.get(name, NAN)) for name in SCORES},
            n_images=NAN if n_images is None else float(n_images),
            blank=verdict is not None,
        )


@dataclass
class SweepRow:
    """One (stage, seed) of a sweep: its status, test scores and how its training went; NaN (an
    empty csv cell) where a run has no such figure."""

    stage: str
    slug: str
    seed: int
    status: str
    run_dir: str = ""
    scores: dict[str, float] = field(default_factory=dict)
    n_test_images: float = NAN
    steps: float = NAN
    epochs: float = NAN
    images_seen: float = NAN
    wall_seconds: float = NAN
    precision: str = ""
    late_gain: float = NAN
    converged: float = NAN
    stalled: float = NAN
    blank: float = NAN
    restarts: float = NAN

    def score(self, name: str) -> float:
        return self.scores.get(name, NAN)

    def cells(self) -> dict[str, str | int]:
        """The row's ``ablation.csv`` cells by column."""
        values: dict[str, Any] = {
            "stage": self.stage,
            "slug": self.slug,
            "seed": self.seed,
            "status": self.status,
            **{name: self.score(name) for name in SCORES},
            "n_test_images": self.n_test_images,
            "steps": self.steps,
            "epochs": self.epochs,
            "images_seen": self.images_seen,
            "wall_seconds": self.wall_seconds,
            "precision": self.precision,
            "late_gain": self.late_gain,
            "converged": self.converged,
            "stalled": self.stalled,
            "blank": self.blank,
            "restarts": self.restarts,
            "run_dir": self.run_dir,
        }
        return {column: _cell(values[column]) for column in COLUMNS}

    @classmethod
    def from_cells(cls, cells: Mapping[str, str | None]) -> SweepRow:
        """A row read back from ``ablation.csv``; a column an older sweep lacks is empty."""

        def number(column: str) -> float:
            text = cells.get(column)
            return float(text) if text not in ("", None) else NAN

        return cls(
            stage=cells.get("stage") or "",
            slug=cells.get("slug") or "",
            seed=int(cells.get("seed") or 0),
            status=cells.get("status") or "",
            run_dir=cells.get("run_dir") or "",
            scores={name: number(name) for name in SCORES},
            n_test_images=number("n_test_images"),
            steps=number("steps"),
            epochs=number("epochs"),
            images_seen=number("images_seen"),
            wall_seconds=number("wall_seconds"),
            precision=cells.get("precision") or "",
            late_gain=number("late_gain"),
            converged=number("converged"),
            stalled=number("stalled"),
            blank=number("blank"),
            restarts=number("restarts"),
        )


def _cell(value: Any) -> str | int:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return value


def write_csv(path: Path, rows: list[SweepRow]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(row.cells() for row in rows)
    atomic_write_text(path, buffer.getvalue())


def read_csv(path: Path) -> list[SweepRow]:
    if not Path(path).is_file():
        raise SparsegError(f"{path}: file not found (run sparseg ablate first)")
    with open(path, newline="", encoding="utf-8") as stream:
        return [SweepRow.from_cells(cells) for cells in csv.DictReader(stream)]


def collect_rows(out_dir: Path, manifest: SweepManifest) -> list[SweepRow]:
    """One row per (stage, seed) of the sweep's manifest, from the run folders' files."""
    paths = SweepPaths(Path(out_dir))
    rows = []
    for stage in manifest.stages:
        for seed in manifest.seeds:
            row = SweepRow(stage.name, stage.slug, seed, status="")
            _read_run(row, paths.run(stage.slug, seed), stage)
            rows.append(row)
    return rows


def _read_run(row: SweepRow, run_dir: Path, stage: StageRecord) -> None:
    row.run_dir = str(run_dir)
    if stage.skipped:
        row.status = f"skipped: {stage.skipped}"
        return
    paths = RunPaths(run_dir)
    folds = sorted(paths.root.glob(f"{FOLD_PREFIX}*/{TRAIN_SUMMARY}"))
    summaries = [path for path in [paths.train_summary, *folds] if path.is_file()]
    if summaries:
        training = TrainingFacts.read(summaries)
        row.steps, row.epochs = training.steps, training.epochs
        row.images_seen, row.wall_seconds = training.images_seen, training.wall_seconds
        row.precision, row.restarts = training.precision, training.restarts
    curves = [paths.metrics_csv, *(path.parent / METRICS_CSV for path in folds)]
    curves = [path for path in curves if path.is_file()]
    row.late_gain, row.converged = _convergence([run_convergence(path) for path in curves])
    if curves:  # converged, but on a network from the start of training: it did not learn
        row.stalled = float(sum(stall_warning(path) is not None for path in curves))
    if (run_dir / EVALUATION_FILE).is_file():
        evaluation = EvaluationFacts.read(run_dir / EVALUATION_FILE)
        row.scores, row.n_test_images = evaluation.scores, evaluation.n_images
        row.blank, row.status = float(evaluation.blank), "done"
    elif (run_dir / FAILED_FILE).is_file():
        row.status = (run_dir / FAILED_FILE).read_text(encoding="utf-8").strip()
    else:
        row.status = "not run" if not run_dir.exists() else "unfinished"


def _convergence(trainings: list[tuple[float | None, bool | None]]) -> tuple[float, float]:
    """(late gain, converged): a run of several trainings (folds) converged when every one
    of them did."""
    known = [(gain, converged) for gain, converged in trainings if converged is not None]
    if not known:
        return NAN, NAN
    late_gain = max(gain for gain, _ in known if gain is not None)
    return late_gain, float(all(converged for _, converged in known))
