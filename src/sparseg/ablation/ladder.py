"""Ablation ladders: a base preset plus named stages of config overrides, resolved and validated.

A ladder file::

    base: ../basic.yaml          # preset, relative to the ladder file (default: built-in defaults)
    mode: cumulative             # or leave_one_out
    stages:
      - name: basic
        claim: [0.20, 0.30]      # the Dice range someone promised for this stage, in [0, 1]
      - name: + aggressive augmentation
        overrides: {augment.elastic.p: 0.5, augment.grid_distortion: {p: 0.3}}
      - name: + TTA + post-processing
        tune: true               # run `sparseg tune` before evaluating
        after_tune: {inference.crf.enabled: false}   # forced over what tune decided
      - name: + ensemble
        ensemble_folds: 3        # K fold models per seed, evaluated as one ensemble
      - name: + pre-trained encoder
        overrides: {model.encoder_weights: imagenet}
        requires: pretrained_weights                 # skipped (with the reason) when unavailable
      - name: + in-domain pre-training
        pretrain: {steps: 1000}  # each seed's network pretrained first (sparseg pretrain)
      - name: budget preset
        base: ../budget.yaml     # cumulative only: restart from this preset (untuned, one
                                 # model, no pretraining), not the stage above

``cumulative``: each stage applies its overrides (and ``tune``/``after_tune``/``ensemble_folds``/
``pretrain``) on top of the previous measured stage; a skipped stage's overrides are not passed on;
a stage with ``base`` starts afresh from that preset.
``pretrain`` (``steps`` and/or ``minutes``; ``false`` turns it off again) makes each seed's network
start from in-domain weights: ``sparseg pretrain`` on the sweep's non-test images, with the
stage's config, before the training (:func:`sparseg.ablation.sweep.pretrain_args`).
``leave_one_out``: the first stage is the full recipe, each further stage applies its overrides on
top of it only (removing one trick) and inherits its ``requires``.
Override keys are dotted config paths; a mapping value is merged into the section it names.
``data.input_size: aspect_true`` is the size in multiples of 32 nearest the stage's input area
before it, at the data set's median image aspect: the same stage fits every data set.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sparseg.config import Config, DataConfig, parent_section, read_yaml_mapping, validate_config
from sparseg.data.plan import aspect_true_size
from sparseg.errors import SparsegError

MODES = ("cumulative", "leave_one_out")
REQUIREMENTS = ("pretrained_weights",)
LADDER_KEYS = ("base", "mode", "description", "stages")
STAGE_KEYS = (
    "name",
    "base",
    "overrides",
    "tune",
    "after_tune",
    "ensemble_folds",
    "requires",
    "pretrain",
    "claim",
    "claim_gain",
    "note",
)
PRETRAIN_KEYS = ("steps", "minutes")
# Sections that change only what happens after training: stages differing only there share it.
INFERENCE_SECTIONS = ("inference", "evaluation")

RequirementCheck = Callable[[str, Config], str | None]
"""``check(requirement, config)`` → why the requirement is not met here, or None when it is."""
ImageAspect = Callable[[], float]
"""``aspect()`` → the data set's median image width / height (asked only when a stage needs it)."""
ASPECT_TRUE = "aspect_true"


@dataclass(frozen=True)
class Stage:
    """One resolved rung of the ladder."""

    index: int
    name: str
    slug: str
    config: Config
    tune: bool
    after_tune: dict[str, Any]
    ensemble_folds: int  # 1: a single model on the sweep's split
    pretrain: dict[str, float] | None  # the pretraining budget; None: from the config's weights
    claim: tuple[float, float] | None
    claim_gain: tuple[float, float] | None
    note: str | None
    skipped: str | None  # the reason, when the stage cannot run here
    compare_to: int | None  # index of the stage its gain is measured against

    @property
    def training_key(self) -> str:
        """Equal keys mean identical training; such stages share one trained model per seed."""
        sections = self.config.model_dump(mode="json")
        trained = {k: v for k, v in sections.items() if k not in INFERENCE_SECTIONS}
        return json.dumps([trained, self.ensemble_folds, self.pretrain], sort_keys=True)


@dataclass(frozen=True)
class StageSettings:
    """What a stage runs with once resolved against the stages before it."""

    raw: dict[str, Any]  # the config mapping, before validation
    tune: bool
    after_tune: dict[str, Any]
    folds: int
    requires: tuple[str, ...]
    pretrain: dict[str, float] | None


@dataclass(frozen=True)
class Ladder:
    path: Path
    base: Path | None
    mode: str
    description: str
    stages: list[Stage]


def load_ladder(
    path: Path, check: RequirementCheck | None = None, aspect: ImageAspect | None = None
) -> Ladder:
    """Read, resolve and validate a ladder; ``check`` decides requirements (None: all met);
    ``aspect`` gives the data's image aspect for ``data.input_size: aspect_true``."""
    path = Path(path)
    raw = read_yaml_mapping(path)
    _reject_unknown(raw, LADDER_KEYS, f"{path}")
    mode = raw.get("mode", "cumulative")
    if mode not in MODES:
        raise SparsegError(f"{path}: mode: {mode!r} is not one of {', '.join(MODES)}")
    base = (path.parent / str(raw["base"])).resolve() if raw.get("base") else None
    base_raw = read_yaml_mapping(base) if base is not None else {}
    specs = raw.get("stages")
    if not isinstance(specs, list) or not specs:
        raise SparsegError(f"{path}: stages: expected a non-empty list of stages")
    parsed = [_parse_stage(spec, f"{path}: stages[{i}]") for i, spec in enumerate(specs)]
    names = [spec["name"] for spec in parsed]
    duplicate = next((name for name in names if names.count(name) > 1), None)
    if duplicate is not None:
        raise SparsegError(f"{path}: stage name {duplicate!r} appears more than once")
    resolve = _resolve_cumulative if mode == "cumulative" else _resolve_leave_one_out
    stages = resolve(parsed, base_raw, path, check, aspect)
    return Ladder(path, base, mode, str(raw.get("description") or ""), stages)


def _aspect_true(
    raw: dict[str, Any], before: dict[str, Any], aspect: ImageAspect | None, where: str
) -> dict[str, Any]:
    """``raw`` with ``data.input_size: aspect_true`` resolved against the size in ``before``."""
    if raw.get("data", {}).get("input_size") != ASPECT_TRUE:
        return raw
    if aspect is None:
        raise SparsegError(
            f"{where}: data.input_size: aspect_true needs a data set (sparseg ablate --data)"
        )
    height, width = before.get("data", {}).get("input_size") or DataConfig().input_size
    resolved = copy.deepcopy(raw)
    resolved["data"]["input_size"] = list(aspect_true_size(height * width, aspect()))
    return resolved


def apply_dotted(raw: dict[str, Any], overrides: dict[str, Any], where: str) -> dict[str, Any]:
    """A deep copy of ``raw`` with ``{"a.b.c": value}`` overrides; mappings merge into sections."""
    result = copy.deepcopy(raw)
    for key, value in overrides.items():
        parts = str(key).split(".")
        node = parent_section(result, parts, f"{where}: {key}")
        leaf = parts[-1]
        if isinstance(value, dict) and isinstance(node.get(leaf), dict):
            node[leaf] = apply_dotted(node[leaf], value, where)
        else:
            node[leaf] = copy.deepcopy(value)
    return result


def slugify(index: int, name: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return f"{index + 1:02d}-{words or 'stage'}"


# ---------------------------------------------------------------- parsing
def _reject_unknown(raw: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = [key for key in raw if key not in allowed]
    if unknown:
        raise SparsegError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(allowed)})")


def _parse_stage(spec: Any, where: str) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise SparsegError(f"{where}: expected a mapping with at least a name")
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SparsegError(f"{where}: name: expected a non-empty string")
    where = f"{where} ({name!r})"
    _reject_unknown(spec, STAGE_KEYS, where)
    requires = spec.get("requires") or []
    requires = [requires] if isinstance(requires, str) else requires
    unknown = [r for r in requires if r not in REQUIREMENTS] if isinstance(requires, list) else []
    if not isinstance(requires, list) or unknown:
        shown = unknown[0] if unknown else requires
        raise SparsegError(f"{where}: requires: {shown!r} is not one of {', '.join(REQUIREMENTS)}")
    tune = spec.get("tune")
    if tune is not None and not isinstance(tune, bool):
        raise SparsegError(f"{where}: tune: expected true or false")
    folds = spec.get("ensemble_folds")
    if folds is not None and (isinstance(folds, bool) or not isinstance(folds, int) or folds < 1):
        raise SparsegError(f"{where}: ensemble_folds: expected a whole number ≥ 2 (1: no ensemble)")
    after_tune = _mapping(spec, "after_tune", where)
    outside = [key for key in after_tune if not str(key).startswith("inference.")]
    if outside:
        raise SparsegError(
            f"{where}: after_tune: {outside[0]}: only inference.* keys can be forced"
        )
    if after_tune and tune is False:
        raise SparsegError(f"{where}: after_tune needs tune: true")
    note = spec.get("note")
    base = spec.get("base")
    pretrain = _pretrain(spec.get("pretrain"), f"{where}: pretrain")
    if base is not None and (not isinstance(base, str) or not base.strip()):
        raise SparsegError(f"{where}: base: expected a preset path relative to the ladder file")
    return {
        "name": name.strip(),
        "where": where,
        "base": base,
        "overrides": _mapping(spec, "overrides", where),
        "tune": tune,
        "after_tune": after_tune,
        "ensemble_folds": folds,
        "requires": tuple(requires),
        "pretrain": pretrain,
        "claim": _range(spec.get("claim"), f"{where}: claim", low=0.0),
        "claim_gain": _range(spec.get("claim_gain"), f"{where}: claim_gain", low=-1.0),
        "note": str(note).strip() if note is not None else None,
    }


def _mapping(spec: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = spec.get(key) or {}
    if not isinstance(value, dict):
        raise SparsegError(f"{where}: {key}: expected a mapping of dotted config keys to values")
    return value


def _pretrain(value: Any, where: str) -> dict[str, float] | bool | None:
    """A stage's ``pretrain``: None (as the stage before), False (off) or its budget."""
    if value is None or value is False:
        return value
    budget = value if isinstance(value, dict) else {}
    numbers = all(
        isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in budget.values()
    )
    if not budget or not numbers or any(key not in PRETRAIN_KEYS for key in budget):
        raise SparsegError(
            f"{where}: expected false or a mapping of {' and/or '.join(PRETRAIN_KEYS)} to "
            "positive numbers, e.g. {steps: 1000}"
        )
    return {key: budget[key] for key in PRETRAIN_KEYS if key in budget}


def _range(value: Any, where: str, low: float) -> tuple[float, float] | None:
    if value is None:
        return None
    numbers = isinstance(value, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    )
    if not numbers or len(value) != 2 or not low <= value[0] <= value[1] <= 1.0:
        raise SparsegError(f"{where}: expected [low, high] with {low:g} ≤ low ≤ high ≤ 1")
    return float(value[0]), float(value[1])


# ---------------------------------------------------------------- resolution
def _resolve_cumulative(
    specs: list[dict[str, Any]],
    base_raw: dict[str, Any],
    path: Path,
    check: RequirementCheck | None,
    aspect: ImageAspect | None,
) -> list[Stage]:
    current, tune, after_tune, folds, pretrain = base_raw, False, {}, 1, None
    previous: int | None = None
    stages = []
    for index, spec in enumerate(specs):
        if spec["base"] is not None:
            current = read_yaml_mapping((path.parent / spec["base"]).resolve())
            tune, after_tune, folds, pretrain = False, {}, 1, None
        raw = apply_dotted(current, spec["overrides"], spec["where"])
        raw = _aspect_true(raw, current, aspect, spec["where"])
        stage_tune = tune if spec["tune"] is None else spec["tune"]
        stage_after = {**after_tune, **spec["after_tune"]} if stage_tune else {}
        stage_folds = folds if spec["ensemble_folds"] is None else spec["ensemble_folds"]
        stage_pretrain = pretrain if spec["pretrain"] is None else spec["pretrain"] or None
        settings = StageSettings(
            raw, stage_tune, stage_after, stage_folds, spec["requires"], stage_pretrain
        )
        stage = _stage(index, spec, settings, path, check)
        stages.append(replace(stage, compare_to=previous))
        if stage.skipped is None:
            current, tune, after_tune, folds = raw, stage_tune, stage_after, stage_folds
            pretrain, previous = stage_pretrain, index
    return stages


def _resolve_leave_one_out(
    specs: list[dict[str, Any]],
    base_raw: dict[str, Any],
    path: Path,
    check: RequirementCheck | None,
    aspect: ImageAspect | None,
) -> list[Stage]:
    based = next((spec for spec in specs if spec["base"] is not None), None)
    if based is not None:
        raise SparsegError(f"{based['where']}: base: only cumulative ladders restart from a preset")
    first = specs[0]
    full_raw = apply_dotted(base_raw, first["overrides"], first["where"])
    full_raw = _aspect_true(full_raw, base_raw, aspect, first["where"])
    full_tune = bool(first["tune"])
    full_folds = first["ensemble_folds"] or 1
    full_pretrain = first["pretrain"] or None
    full_settings = StageSettings(
        full_raw, full_tune, first["after_tune"], full_folds, first["requires"], full_pretrain
    )
    full = _stage(0, first, full_settings, path, check)
    stages = [full]
    for index, spec in enumerate(specs[1:], start=1):
        overridden = apply_dotted(full_raw, spec["overrides"], spec["where"])
        raw = _aspect_true(overridden, full_raw, aspect, spec["where"])
        tune = full_tune if spec["tune"] is None else spec["tune"]
        after_tune = {**full.after_tune, **spec["after_tune"]} if tune else {}
        folds = full_folds if spec["ensemble_folds"] is None else spec["ensemble_folds"]
        requires = tuple(dict.fromkeys(first["requires"] + spec["requires"]))
        pretrain = full_pretrain if spec["pretrain"] is None else spec["pretrain"] or None
        settings = StageSettings(raw, tune, after_tune, folds, requires, pretrain)
        stage = _stage(index, spec, settings, path, check)
        stages.append(replace(stage, compare_to=None if full.skipped else 0))
    return stages


def _stage(
    index: int,
    spec: dict[str, Any],
    settings: StageSettings,
    path: Path,
    check: RequirementCheck | None,
) -> Stage:
    source = f"{path}: stage {spec['name']!r}"
    config = validate_config(settings.raw, source)
    after_tune = settings.after_tune
    validate_config(apply_dotted(settings.raw, after_tune, source), f"{source} after_tune")
    skipped = None
    for requirement in settings.requires if check is not None else ():
        skipped = check(requirement, config)
        if skipped:
            break
    return Stage(
        index=index,
        name=spec["name"],
        slug=slugify(index, spec["name"]),
        config=config,
        tune=settings.tune,
        after_tune=dict(after_tune),
        ensemble_folds=settings.folds,
        pretrain=settings.pretrain,
        claim=spec["claim"],
        claim_gain=spec["claim_gain"],
        note=spec["note"],
        skipped=skipped,
        compare_to=None,
    )
