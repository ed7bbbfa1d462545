"""A sweep's runs: one (stage, seed) and where its files live (:class:`Run`), the command line
of each step it takes (``train``, ``pretrain``, ``tune``, ``save-probabilities``, ``evaluate``),
and how far it got (trained, tuned, evaluated, or its model lost). :mod:`sparseg.ablation.plan`
makes the sweep's task list from these."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from sparseg.ablation.ladder import Stage
from sparseg.ablation.layout import EVALUATION_FILE, SweepPaths
from sparseg.io_utils import read_json
from sparseg.run_layout import CONFIG_FILE, RunPaths

FINETUNING_BUDGET = ("max_minutes", "max_steps", "max_epochs", "patience")


@dataclass
class Run:
    """One (stage, seed): its run directory and split; ``leader`` trains the model it shares."""

    stage: Stage
    seed: int
    run_dir: Path
    stage_dir: Path
    split: Path
    leader: Run | None = None

    @property
    def label(self) -> str:
        return f"[{self.stage.name} · seed {self.seed}]"

    @property
    def evaluation(self) -> Path:
        """The run's test metrics, written last: the run is done when they are there."""
        return self.run_dir / EVALUATION_FILE

    @property
    def inference_dir(self) -> Path:
        """Where tune writes ``inference.json``: the run, or an ensemble's folder, tuned on the
        out-of-fold predictions of all its folds."""
        return RunPaths(self.run_dir).root

    @property
    def trained_dirs(self) -> list[Path]:
        folds, paths = self.stage.ensemble_folds, RunPaths(self.run_dir)
        return [paths.fold(k).root for k in range(folds)] if folds > 1 else [paths.root]

    @property
    def pretrained(self) -> Path | None:
        """The in-domain weights its models start from (a stage with ``pretrain``): one file per
        seed and pretraining, ``DIR/pretrained/<digest>-seed<k>.pth``, shared by every stage
        whose network, data, pretraining and budget are the same."""
        stage = self.stage
        if stage.pretrain is None:
            return None
        config = stage.config.model_dump(mode="json")
        made_by = {key: config[key] for key in ("data", "model", "training", "pretrain")}
        for key in FINETUNING_BUDGET:  # pretraining has its own budget
            made_by["training"].pop(key)
        text = json.dumps([made_by, stage.pretrain], sort_keys=True)
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        return SweepPaths(self.stage_dir.parent).pretrained(digest, self.seed)


@dataclass(frozen=True)
class RunBudget:
    """What each training of a sweep may spend: wall-clock minutes, optimizer steps, or both
    (whichever ends first). Steps make a sweep's verdicts independent of the machine's load."""

    minutes: float | None = None
    steps: int | None = None

    def set_args(self) -> list[str]:
        args = ["--set", f"training.max_minutes={self.minutes:g}"] if self.minutes else []
        return args + (["--set", f"training.max_steps={self.steps}"] if self.steps else [])


# ---------------------------------------------------------------- commands (their arguments)
def train_args(run: Run, folder: Path, data: Path, budget: RunBudget, resume: bool) -> list[str]:
    """Train the run's model in ``folder``: the run itself, or fold K of an ensemble into its
    ``fold_K`` (one command a fold, unlike ``train --fold all``, so that the folds may train side
    by side and each saves its model and probabilities as soon as it ends)."""
    args = ["train", "--data", str(data), "--config", str(run.stage_dir / CONFIG_FILE)]
    args += ["--out", str(folder), "--split", str(run.split)]
    args += ["--fold", str(run.trained_dirs.index(folder)), "--set", f"seed={run.seed}"]
    if run.pretrained is not None:
        args += ["--set", f"model.pretrained_weights={run.pretrained}"]
    return [*args, *budget.set_args(), "--quiet", *(["--resume"] if resume else [])]


def pretrain_args(run: Run, data: Path) -> list[str]:
    """Make the run's in-domain weights (:attr:`Run.pretrained`): ``sparseg pretrain`` with the
    stage's config and seed on the sweep's images, its test cases left out; ``--resume``
    continues a pretraining cut off, and repeats none that another unit finished meanwhile."""
    weights = run.pretrained
    assert weights is not None and run.stage.pretrain is not None
    args = ["pretrain", "--data", str(data), "--config", str(run.stage_dir / CONFIG_FILE)]
    args += ["--out", str(weights), "--split", str(run.split), "--set", f"seed={run.seed}"]
    for key, value in run.stage.pretrain.items():
        args += [f"--{key}", f"{value:g}"]
    return [*args, "--quiet", "--resume"]


def tune_args(run: Run, data: Path) -> list[str]:
    return ["tune", "--run", str(run.inference_dir), "--data", str(data), "--split", str(run.split)]


def saves_probabilities(run: Run) -> bool:
    """Whether the run's models save their probabilities: an ensemble's do, since its folds train
    for hours and their checkpoints stay on the machine (too large to commit); with its
    folds' probabilities committed, an ensemble cut off on one machine is finished on another
    without training them again. A single model is simply trained again there."""
    return run.stage.ensemble_folds > 1


def save_probabilities_args(run: Run, folder: Path, data: Path) -> list[str]:
    """Save the probabilities that the unit's tune and evaluate read from ``folder``'s model
    (fold K of an ensemble): the validation images it held out (tune reads every fold's) and
    the test images."""
    args = ["save-probabilities", "--run", str(folder), "--data", str(data)]
    args += ["--split", str(run.split), "--fold", str(run.trained_dirs.index(folder))]
    return [*args, "--subset", "val", "--subset", "test"]


def evaluate_args(run: Run, data: Path) -> list[str]:
    args = ["evaluate", "--run", str(run.run_dir), "--data", str(data), "--split", str(run.split)]
    return [*args, "--json", str(run.evaluation)]


# ---------------------------------------------------------------- how far a run got
def trained(run: Run) -> bool:
    return all(RunPaths(folder).train_summary.is_file() for folder in run.trained_dirs)


def lost(folder: Path) -> bool:
    """A model trained elsewhere, with neither its checkpoint nor its saved probabilities here
    (a sweep carried without them)."""
    paths = RunPaths(folder)
    return paths.train_summary.is_file() and not paths.predicts


def lost_model(run: Run) -> bool:
    return any(lost(folder) for folder in run.trained_dirs)


def finished(unit: list[Run]) -> bool:
    return all(run.evaluation.is_file() for run in unit)


def pending_runs(unit: list[Run]) -> list[Run]:
    """The unit's runs still to evaluate; all of them where its model was lost and trains again
    (the unit's stages share one model, so every stage is evaluated on the new one)."""
    unevaluated = [run for run in unit if not run.evaluation.is_file()]
    return list(unit) if unevaluated and lost_model(unit[0]) else unevaluated


def forget_model(unit: list[Run]) -> None:
    """Drop what a unit derived from models that are gone (the files that mark their training,
    and the unit's tuning and evaluations, as done), so those models train again and the unit
    re-derives the rest; an ensemble's folds that saved their probabilities stay."""
    for run in unit:
        for folder in filter(lost, run.trained_dirs):
            RunPaths(folder).train_summary.unlink()
        RunPaths(run.inference_dir).inference.unlink(missing_ok=True)
        run.evaluation.unlink(missing_ok=True)


def tuned(run: Run) -> bool:
    path = RunPaths(run.inference_dir).inference
    return path.is_file() and "decisions" in read_json(path)
