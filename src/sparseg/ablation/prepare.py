"""A sweep folder before any run: the shared split files, each stage's folder (its resolved
``config.yaml`` and ``stage.json``) and ``ablation_plan.json``, refused where they would mix a
changed ladder, budget, data set or split into runs made with the old ones; and what a ladder
needs to know of the data to resolve (which pre-trained weights load here, the images' aspect).
"""

from __future__ import annotations

import hashlib
import statistics
from pathlib import Path
from typing import Any

import yaml

from sparseg.ablation.ladder import Ladder, Stage
from sparseg.ablation.layout import STAGE_FILE, SweepPaths
from sparseg.ablation.manifest import StageRecord, SweepManifest, SweepSettingsRecord
from sparseg.ablation.sweep import RunBudget
from sparseg.config import Config, dump_config
from sparseg.data.discovery import discover_items
from sparseg.data.resolve import ItemSelection
from sparseg.data.splits import DefaultSplit, make_splits, save_split
from sparseg.errors import SparsegError
from sparseg.io_utils import atomic_write, atomic_write_json, read_json
from sparseg.run_layout import CONFIG_FILE, RunPaths


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

            channels = item_info(discover_items(self.data)[0]).channels
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

    shapes = [item_info(item) for item in discover_items(data)]
    return statistics.median(info.width / info.height for info in shapes)


def prepare_splits(
    data: Path, split_file: Path | None, ladder: Ladder, out_dir: Path
) -> dict[int, Path]:
    """One split for the whole sweep (same test ids for every run), plus a k-fold split of its
    non-test ids for each ensemble size; returned by number of folds (1: the plain split)."""
    data_config = ladder.stages[0].config.data
    given = Path(split_file).resolve() if split_file is not None else None
    main = given or RunPaths(out_dir).split
    paths = SweepPaths(out_dir)
    selection = ItemSelection(
        data, split_file=given, saved_split=main, default=DefaultSplit.of(data_config, seed=0)
    )
    chosen, cases = selection.split(), selection.cases
    splits = {1: main}
    pool = sorted(chosen.train + chosen.val)
    for stage in ladder.stages:
        folds = stage.ensemble_folds
        if folds > 1 and stage.skipped is None and folds not in splits:
            splits[folds] = paths.kfold_split(folds)
            if not splits[folds].is_file():
                kfold = make_splits(pool, folds, 0.0, 0, data_config.group_regex, cases)
                save_split({"test": chosen.test, "folds": kfold["folds"]}, splits[folds])
    return splits


def write_plan(
    ladder: Ladder,
    data: Path,
    splits: dict[int, Path],
    out_dir: Path,
    seeds: int,
    budget: RunBudget,
) -> SweepManifest:
    """Stage folders (config.yaml, stage.json) and ``ablation_plan.json``; refuses to mix a
    changed ladder or budget into runs made with the old one."""
    settings = SweepSettingsRecord(
        data=str(data),
        split=str(splits[1]),
        split_digest=hashlib.sha256(Path(splits[1]).read_bytes()).hexdigest(),
        minutes_per_run=budget.minutes,
        steps_per_run=budget.steps,
    )
    paths = SweepPaths(out_dir)
    if paths.plan.is_file():
        changed = settings.differs_from(SweepManifest.read(paths.plan).settings)
        if changed is not None:
            key, old, new = changed
            raise SparsegError(
                f"{out_dir}: holds a sweep made with {key}={old!r}, not {new!r}; use another "
                "--out or the same settings"
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
        stage_dir = paths.stage(stage.slug)
        _write_checked(stage_dir / STAGE_FILE, facts, dump_config(stage.config))
        compare = ladder.stages[stage.compare_to].slug if stage.compare_to is not None else None
        stages.append(
            StageRecord(
                name=stage.name,
                slug=stage.slug,
                tune=stage.tune,
                after_tune=stage.after_tune,
                ensemble_folds=stage.ensemble_folds,
                pretrain=stage.pretrain,
                claim=stage.claim,
                claim_gain=stage.claim_gain,
                note=stage.note,
                skipped=stage.skipped,
                compare_to=compare,
                reuses=leader.slug if leader is not None and leader is not stage else None,
            )
        )
    manifest = SweepManifest(
        ladder=str(Path(ladder.path).resolve()),
        mode=ladder.mode,
        description=ladder.description,
        settings=settings,
        seeds=list(range(seeds)),
        stages=stages,
    )
    manifest.write(paths.plan)
    return manifest


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
