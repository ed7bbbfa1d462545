"""A sweep folder's names, in one place: the plan, the tables, the shared splits, each stage's
folder and each (stage, seed)'s run folder ``DIR/<stage slug>/seed<k>/`` with the small files
that say how that run stands.

Everything that finds a sweep's files (planning, the executors, collecting the rows, rendering,
the helper steps run by emitted commands) asks :class:`SweepPaths`; a run folder's own files
(checkpoints, ``train_summary.json``, ...) are :class:`sparseg.run_layout.RunPaths`'.

Example::

    paths = SweepPaths(Path("sweeps/seed-timeline"))
    evaluation = paths.run("02-tta", seed=1) / EVALUATION_FILE
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PLAN_NAME = "ablation_plan.json"
CSV_NAME = "ablation.csv"
MARKDOWN_NAME = "ablation.md"
CHART_NAME = "ablation.png"
STAGE_FILE = "stage.json"  # a stage's facts (tune, after_tune, ...) beside its config.yaml
EVALUATION_FILE = "evaluation.json"  # a run's test metrics: its presence marks the run done
FAILED_FILE = "ablation_failed.txt"
LOG_FILE = "ablation.log"
PRETRAINED_DIR = "pretrained"


@dataclass(frozen=True)
class SweepPaths:
    """The files and folders of the sweep folder ``root``."""

    root: Path

    @property
    def plan(self) -> Path:
        return self.root / PLAN_NAME

    @property
    def csv(self) -> Path:
        return self.root / CSV_NAME

    @property
    def outputs(self) -> list[Path]:
        """The rendered tables: ``ablation.csv``, ``ablation.md``, ``ablation.png``."""
        return [self.root / name for name in (CSV_NAME, MARKDOWN_NAME, CHART_NAME)]

    def kfold_split(self, folds: int) -> Path:
        """The k-fold split of the sweep split's non-test ids for ensembles of ``folds``."""
        return self.root / f"split_{folds}folds.json"

    def stage(self, slug: str) -> Path:
        """A stage's folder: its resolved ``config.yaml`` and ``stage.json``."""
        return self.root / slug

    def run(self, slug: str, seed: int) -> Path:
        """The run folder of one (stage, seed)."""
        return self.stage(slug) / f"seed{seed}"

    def pretrained(self, digest: str, seed: int) -> Path:
        """In-domain weights made once per pretraining ``digest`` and seed, shared by stages."""
        return self.root / PRETRAINED_DIR / f"{digest}-seed{seed}.pth"
