"""Planning a sweep: the shared split files, the stage folders, the runs grouped by shared
training, and the shell command of each step (run by the runner, or printed for a scheduler)."""

from __future__ import annotations

import hashlib
import json
import shlex
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sparseg.ablation.helper_steps import STAGE_FILE, adopt_training, settle_inference
from sparseg.ablation.ladder import Ladder, Stage
from sparseg.ablation.outputs import PLAN_NAME
from sparseg.config import Config, dump_config
from sparseg.data.pairs import discover_pairs
from sparseg.data.splits import DefaultSplit, choose_split, make_splits, save_split
from sparseg.errors import SparsegError
from sparseg.io_utils import atomic_write, atomic_write_json, read_json
from sparseg.run_layout import CONFIG_FILE, RunPaths

EVALUATION_FILE = "evaluation.json"
PRETRAINED_DIR = "pretrained"
FINETUNING_BUDGET = ("max_minutes", "max_steps", "max_epochs", "patience")
FAILED_FILE = "ablation_failed.txt"
LOG_FILE = "ablation.log"
_HELPER = "import sys; from sparseg.ablation.helper_steps import main; main(sys.argv[1:])"


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
    def inference_dir(self) -> Path:
        """Where tune writes ``inference.json``: an ensemble uses its first fold's."""
        paths = RunPaths(self.run_dir)
        return paths.fold(0).root if self.stage.ensemble_folds > 1 else paths.root

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
        sections = ("data", "model", "training", "pretrain")
        made_by = {key: getattr(stage.config, key).model_dump(mode="json") for key in sections}
        for key in FINETUNING_BUDGET:  # pretraining has its own budget
            made_by["training"].pop(key)
        text = json.dumps([made_by, stage.pretrain], sort_keys=True)
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        return self.stage_dir.parent / PRETRAINED_DIR / f"{digest}-seed{self.seed}.pth"


# ---------------------------------------------------------------- planning
class PretrainedWeightsCheck:
    """Whether a stage's encoder weights load here: builds the model once per encoder/weights."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.reasons: dict[tuple[str, str | None], str | None] = {}

    def __call__(self, requirement: str, config: Config) -> str | None:
        model = config.model
        key = (model.encoder, model.encoder_weights)
        if model.encoder_weights is None:
            return None
        if key not in self.reasons:
            from sparseg.data.items import item_info
            from sparseg.models import build_model

            channels = item_info(discover_pairs(self.data)[0]).channels
            try:
                build_model(model.model_copy(update={"deep_supervision": False}), channels)
                self.reasons[key] = None
            except SparsegError as exc:
                self.reasons[key] = f"pre-trained encoder weights cannot be loaded here ({exc})"
        return self.reasons[key]


def median_aspect(data: Path) -> float:
    """Median width / height of the data set's images or slices (headers only): what a ladder's
    ``data.input_size: aspect_true`` keeps."""
    from sparseg.data.items import item_info

    shapes = [item_info(pair) for pair in discover_pairs(data)]
    return statistics.median(info.width / info.height for info in shapes)


def prepare_splits(
    data: Path, split_file: Path | None, ladder: Ladder, out_dir: Path
) -> dict[int, Path]:
    """One split for the whole sweep (same test ids for every run), plus a k-fold split of its
    non-test ids for each ensemble size; returned by number of folds (1: the plain split)."""
    ids = [pair.id for pair in discover_pairs(data)]
    data_config = ladder.stages[0].config.data
    given = Path(split_file).resolve() if split_file is not None else None
    main = given or RunPaths(out_dir).split
    default = DefaultSplit(
        data_config.val_fraction, data_config.test_fraction, 0, data_config.group_regex
    )
    chosen = choose_split(ids, given, 0, main, default)
    splits = {1: main}
    pool = sorted(chosen.train + chosen.val)
    for stage in ladder.stages:
        folds = stage.ensemble_folds
        if folds > 1 and stage.skipped is None and folds not in splits:
            splits[folds] = out_dir / f"split_{folds}folds.json"
            if not splits[folds].is_file():
                kfold = make_splits(pool, folds, 0.0, 0, data_config.group_regex)
                save_split({"test": chosen.test, "folds": kfold["folds"]}, splits[folds])
    return splits


@dataclass(frozen=True)
class RunBudget:
    """What each training of a sweep may spend: wall-clock minutes, optimizer steps, or both
    (whichever ends first). Steps make a sweep's verdicts independent of the machine's load."""

    minutes: float | None = None
    steps: int | None = None

    def set_args(self) -> list[str]:
        args = ["--set", f"training.max_minutes={self.minutes:g}"] if self.minutes else []
        return args + (["--set", f"training.max_steps={self.steps}"] if self.steps else [])

    def plan_settings(self) -> dict[str, Any]:
        return {"minutes_per_run": self.minutes, "steps_per_run": self.steps}


def write_plan(
    ladder: Ladder,
    data: Path,
    splits: dict[int, Path],
    out_dir: Path,
    seeds: int,
    budget: RunBudget,
) -> dict[str, Any]:
    """Stage folders (config.yaml, stage.json) and ``ablation_plan.json``; refuses to mix a
    changed ladder or budget into runs made with the old one."""
    split_digest = hashlib.sha256(Path(splits[1]).read_bytes()).hexdigest()
    settings = {
        "data": str(data),
        "split": str(splits[1]),
        "split_digest": split_digest,
        **budget.plan_settings(),
    }
    if (out_dir / PLAN_NAME).is_file():
        old = read_json(out_dir / PLAN_NAME)
        for key, value in settings.items():
            if not _same_setting(key, old, value):
                raise SparsegError(
                    f"{out_dir}: holds a sweep made with {key}={old.get(key)!r}, not "
                    f"{value!r}; use another --out or the same settings"
                )
    leaders: dict[str, Stage] = {}
    stages = []
    for stage in ladder.stages:
        leader = None if stage.skipped else leaders.setdefault(stage.training_key, stage)
        facts = {
            "name": stage.name,
            "tune": stage.tune,
            "after_tune": stage.after_tune,
            "ensemble_folds": stage.ensemble_folds,
            **({"pretrain": stage.pretrain} if stage.pretrain is not None else {}),
        }
        stage_dir = out_dir / stage.slug
        _write_checked(stage_dir / STAGE_FILE, facts, dump_config(stage.config))
        compare = ladder.stages[stage.compare_to].slug if stage.compare_to is not None else None
        stages.append(
            {
                **facts,
                "slug": stage.slug,
                "claim": stage.claim,
                "claim_gain": stage.claim_gain,
                "note": stage.note,
                "skipped": stage.skipped,
                "compare_to": compare,
                "reuses": leader.slug if leader is not None and leader is not stage else None,
            }
        )
    plan = {
        "ladder": str(Path(ladder.path).resolve()),
        "mode": ladder.mode,
        "description": ladder.description,
        **settings,
        "seeds": list(range(seeds)),
        "stages": stages,
    }
    atomic_write_json(out_dir / PLAN_NAME, plan)
    return plan


def _same_setting(key: str, old: dict[str, Any], value: Any) -> bool:
    """A sweep carried to another machine may find its data and split elsewhere: the same data
    set is the same folder name, the same split the same file contents."""
    if key == "data":
        return old.get(key) == value or Path(str(old.get(key))).name == Path(value).name
    if key == "split" and old.get("split_digest"):
        return True  # decided by split_digest
    if key == "split_digest" and not old.get(key):
        return True  # a plan from before digests: decided by the split's path
    return old.get(key) == value


def _same_config(old_text: str, new_text: str) -> bool:
    """Equal once both are read by today's schema: a key added since (at its default) does not
    make a committed sweep's runs stale."""
    if old_text == new_text:
        return True
    try:
        old = Config.model_validate(yaml.safe_load(old_text))
    except (ValueError, yaml.YAMLError):  # unreadable today: the stage is reported as changed
        return False
    return old == Config.model_validate(yaml.safe_load(new_text))


def _write_checked(stage_file: Path, facts: dict[str, Any], config_text: str) -> None:
    config_file = stage_file.parent / CONFIG_FILE
    if stage_file.is_file() and config_file.is_file():
        old = read_json(stage_file)
        if not _same_config(config_file.read_text(encoding="utf-8"), config_text) or old != facts:
            raise SparsegError(
                f"{stage_file.parent}: stage {facts['name']!r} changed since its runs were "
                "made; use another --out or delete that folder"
            )
        return  # the files its runs were made from stay as they were written
    stage_file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(config_file, lambda tmp: tmp.write_text(config_text, encoding="utf-8"))
    atomic_write_json(stage_file, facts)


def plan_units(
    ladder: Ladder, splits: dict[int, Path], out_dir: Path, seeds: int
) -> list[list[Run]]:
    """Runs grouped by shared training, seed-major so a stopped sweep has complete early seeds,
    ensembles last: one trains several models (a 2-core CPU at 1,000 steps a model: longer than a
    working session), and lands fold by fold through its folds' saved probabilities, while every
    other unit lands whole."""
    groups: dict[str, list[Stage]] = {}
    for stage in ladder.stages:
        if stage.skipped is None:
            groups.setdefault(stage.training_key, []).append(stage)
    units = []
    for seed in range(seeds):
        for group in groups.values():
            runs = [
                Run(
                    stage,
                    seed,
                    out_dir / stage.slug / f"seed{seed}",
                    out_dir / stage.slug,
                    splits[stage.ensemble_folds],
                )
                for stage in group
            ]
            for run in runs[1:]:
                run.leader = runs[0]
            units.append(runs)
    return sorted(units, key=lambda unit: unit[0].stage.ensemble_folds > 1)


# ---------------------------------------------------------------- commands
# ("sparseg", a command's arguments) or ("helper", a name in helper_steps.STEPS and its arguments)
Step = tuple[str, list[str]]


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
    """Save the probabilities that the unit's tune and evaluate read from ``folder``'s model:
    the test images, and the validation images where tune runs (an ensemble's first fold)."""
    args = ["save-probabilities", "--run", str(folder), "--data", str(data)]
    subsets = ["val", "test"] if folder == run.inference_dir else ["test"]
    return [*args, "--split", str(run.split), *(a for s in subsets for a in ("--subset", s))]


def evaluate_args(run: Run, data: Path) -> list[str]:
    args = ["evaluate", "--run", str(run.run_dir), "--data", str(data), "--split", str(run.split)]
    return [*args, "--json", str(run.run_dir / EVALUATION_FILE)]


def model_args(
    leader: Run, folder: Path, data: Path, budget: RunBudget, from_scratch: bool = False
) -> list[list[str]]:
    """The sparseg commands ``folder``'s model still needs (all of them ``from_scratch``): the
    in-domain weights it starts from, where its stage pretrains and they are not made yet (by
    an ensemble's first fold: :func:`model_groups` keeps the others waiting for them), its
    training (resumed from ``last.ckpt`` where there is one; again where the model was lost),
    then, for an ensemble's fold, saving its probabilities."""
    paths = RunPaths(folder)
    args = []
    if from_scratch or not paths.train_summary.is_file() or lost(folder):
        weights = leader.pretrained
        first = folder == leader.trained_dirs[0]
        if weights is not None and first and (from_scratch or not weights.is_file()):
            args.append(pretrain_args(leader, data))
        resume = not from_scratch and paths.last.is_file()
        args.append(train_args(leader, folder, data, budget, resume))
    if saves_probabilities(leader) and (from_scratch or not paths.probabilities.is_file()):
        args.append(save_probabilities_args(leader, folder, data))
    return args


def model_groups(
    leader: Run, data: Path, budget: RunBudget
) -> list[tuple[list[Path], list[list[str]]]]:
    """The commands still to run for the leader's models, as ``(folders, commands)`` groups
    that may run side by side: one per model, or one for all while the in-domain weights they
    all start from are still to be made (pretraining, then each model in turn)."""
    groups = [
        ([folder], args)
        for folder in leader.trained_dirs
        if (args := model_args(leader, folder, data, budget))
    ]
    weights = leader.pretrained
    if len(groups) > 1 and weights is not None and not weights.is_file():
        return [([f for fs, _ in groups for f in fs], [a for _, args in groups for a in args])]
    return groups


def finish_steps(runs: list[Run], data: Path) -> list[Step]:
    """What ``runs`` (stages of one unit) do once its models are trained: take the leader's
    training, tune where the stage tunes, settle the inference settings, evaluate."""
    steps: list[Step] = []
    for run in runs:
        if run.leader is not None:
            leader_dir = str(run.leader.run_dir)
            steps.append(("helper", [adopt_training.__name__, leader_dir, str(run.run_dir)]))
        if run.stage.tune:
            steps.append(("sparseg", tune_args(run, data)))
        settle = [settle_inference.__name__, str(run.inference_dir), str(run.stage_dir)]
        steps.append(("helper", settle))
        steps.append(("sparseg", evaluate_args(run, data)))
    return steps


def unit_steps(unit: list[Run], data: Path, budget: RunBudget) -> list[Step]:
    """Every command of a unit from scratch (for ``--emit-commands``)."""
    leader = unit[0]
    models: list[Step] = [
        ("sparseg", args)
        for folder in leader.trained_dirs
        for args in model_args(leader, folder, data, budget, from_scratch=True)
    ]
    return [*models, *finish_steps(unit, data)]


def unit_label(unit: list[Run]) -> str:
    return f"{', '.join(run.stage.name for run in unit)} · seed {unit[0].seed}"


def shell(step: Step) -> str:
    kind, args = step
    if kind == "sparseg":
        return shlex.join([sys.executable, "-m", "sparseg", *args])
    return shlex.join([sys.executable, "-c", _HELPER, *args])


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
    return all((run.run_dir / EVALUATION_FILE).is_file() for run in unit)


def pending_runs(unit: list[Run]) -> list[Run]:
    """The unit's runs still to evaluate; all of them where its model was lost and trains again
    (the unit's stages share one model, so every stage is evaluated on the new one)."""
    unevaluated = [run for run in unit if not (run.run_dir / EVALUATION_FILE).is_file()]
    return list(unit) if unevaluated and lost_model(unit[0]) else unevaluated


def forget_model(unit: list[Run]) -> None:
    """Drop what a unit derived from models that are gone (the files that mark their training,
    and the unit's tuning and evaluations, as done), so those models train again and the unit
    re-derives the rest; an ensemble's folds that saved their probabilities stay."""
    for run in unit:
        for folder in filter(lost, run.trained_dirs):
            RunPaths(folder).train_summary.unlink()
        RunPaths(run.inference_dir).inference.unlink(missing_ok=True)
        (run.run_dir / EVALUATION_FILE).unlink(missing_ok=True)


def tuned(run: Run) -> bool:
    path = RunPaths(run.inference_dir).inference
    return path.is_file() and "decisions" in read_json(path)
