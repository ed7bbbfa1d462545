"""The report's sections, each built from the run's files; a missing input gives a note saying
which command fills it, never an error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sparseg.config import read_yaml_mapping
from sparseg.data.discovery import Item, discover_items
from sparseg.errors import SparsegError
from sparseg.inference.mask_files import prediction_file
from sparseg.io_utils import read_json
from sparseg.reporting import markup
from sparseg.reporting.markup import Raw, note, number
from sparseg.reporting.overlays import Case, load_case_panels, pick_cases, png_bytes, read_case_dice
from sparseg.reporting.plots import read_metrics_csv, training_curves_png
from sparseg.reporting.rows import DECISION_HEADERS, METRIC_HEADERS, decision_rows, metric_rows
from sparseg.run_layout import EVAL_PREFIX, MASKS_DIR, METRICS_JSON, PER_IMAGE_CSV, RunPaths

KEY_SETTINGS = (
    ("seed", "seed"),
    ("input", "data.mode"),
    ("input size (H, W)", "data.input_size"),
    ("normalisation", "data.normalize"),
    ("architecture", "model.architecture"),
    ("encoder", "model.encoder"),
    ("encoder weights", "model.encoder_weights"),
    ("deep supervision", "model.deep_supervision"),
    ("presence head", "model.presence_head"),
    ("loss", "loss.terms"),
    ("augmentations", "augment"),
    ("optimiser", "training.optimizer"),
    ("learning rate", "training.lr"),
    ("weight decay", "training.weight_decay"),
    ("batch size", "training.batch_size"),
    ("schedule", "training.schedule"),
    ("weight EMA", "training.ema.enabled"),
    ("progressive resizing", "training.progressive"),
    ("max epochs", "training.max_epochs"),
    ("max steps", "training.max_steps"),
    ("max minutes", "training.max_minutes"),
    ("precision", "training.precision"),
)
TRAINING_FACTS = (
    ("epochs", "epochs"),
    ("optimiser steps", "steps"),
    ("images seen", "images_seen"),
    ("wall seconds", "wall_seconds"),
    ("stopped by", "stop_reason"),
    ("best epoch", "best_epoch"),
)
SUBSET_ORDER = {"test": 0, "val": 1}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- config
def read_config(run_dir: Path) -> dict[str, Any] | None:
    path = RunPaths(run_dir).config
    return read_yaml_mapping(path) if path.is_file() else None


def _lookup(mapping: dict[str, Any], dotted: str) -> Any:
    node: Any = mapping
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return "—"
        node = node[part]
    return "—" if node is None else node


def _setting(config: dict[str, Any], key: str) -> Any:
    if key == "loss.terms":
        return _loss_terms(config)
    if key == "augment":
        return _augmentations(config)
    return _lookup(config, key)


def _loss_terms(config: dict[str, Any]) -> str:
    terms = _lookup(config, "loss.terms")
    if not isinstance(terms, dict):
        return str(terms)
    return " + ".join(f"{weight} × {name}" for name, weight in terms.items()) or "—"


def _augmentations(config: dict[str, Any]) -> str:
    augment = config.get("augment")
    if not isinstance(augment, dict) or not augment.get("enabled", True):
        return "off"
    active = [
        f"{name} p={settings['p']}"
        for name, settings in augment.items()
        if isinstance(settings, dict) and settings.get("p", 0) > 0
    ]
    if isinstance(augment.get("multiscale"), dict) and augment["multiscale"].get("enabled"):
        active.append("multiscale")
    return ", ".join(active) or "none"


def config_section(run_dir: Path) -> str:
    config = read_config(run_dir)
    if config is None:
        return note(f"No config.yaml in {run_dir}: this folder was not written by sparseg train.")
    rows = [(label, _setting(config, key)) for label, key in KEY_SETTINGS]
    full = yaml.safe_dump(config, sort_keys=False)
    return markup.table(("setting", "value"), rows, css_class="settings") + markup.details(
        "full resolved config.yaml", f"<pre>{markup.text(full)}</pre>"
    )


# ---------------------------------------------------------------- training
def _json_object(path: Path) -> dict[str, Any] | None:
    """``path`` read as a JSON object; ``None`` when the file is not there."""
    if not path.is_file():
        return None
    payload = read_json(path)
    if not isinstance(payload, dict):
        raise SparsegError(f"{path}: expected a JSON object")
    return payload


def training_section(run_dir: Path) -> str:
    parts = []
    paths = RunPaths(run_dir)
    summary = _json_object(paths.train_summary)
    if summary is not None:
        rows = [(label, summary.get(key, "—")) for label, key in TRAINING_FACTS]
        rows.append(("best validation Dice", number(summary.get("best_val_dice"))))
        parts.append(markup.table(("figure", "value"), rows, css_class="settings"))
    else:
        parts.append(
            note("No train_summary.json yet: training has not finished (run or resume it).")
        )
    metrics_csv = paths.metrics_csv
    if metrics_csv.is_file() and (columns := read_metrics_csv(metrics_csv))["epoch"].size:
        curves = training_curves_png(columns)
        parts.append(markup.image(curves, "training loss, validation Dice and LR", "curves"))
        config = read_config(run_dir) or {}
        threshold = _lookup(config, "inference.threshold")
        where = (
            "on the native-size images through sliding windows"
            if _lookup(config, "data.mode") == "patch"
            else "at the network's input size"
        )
        parts.append(
            note(
                f"Validation Dice here is measured {where} with threshold {threshold}: mean "
                "per-image Dice, an empty prediction of an empty mask counted as 1."
            )
        )
    else:
        parts.append(note("No epochs in metrics.csv yet: run sparseg train."))
    return "".join(parts)


# ---------------------------------------------------------------- metrics
def eval_dirs(run_dir: Path) -> list[Path]:
    """``RUN/eval_<subset>/`` folders holding a metrics.json, test first, then val, then others."""
    return sorted(
        RunPaths(run_dir).eval_dirs(),
        key=lambda path: (SUBSET_ORDER.get(_subset(path), len(SUBSET_ORDER)), path),
    )


def _subset(eval_dir: Path) -> str:
    return eval_dir.name.removeprefix(EVAL_PREFIX)


def metrics_table(summary: dict[str, Any], subset: str, object_iou: Any = None) -> str:
    """Every Dice convention with its 95 % interval and what it counts, then the other figures."""
    rows = [
        (Raw(f"<code>{markup.text(name)}</code>"), *cells)
        for name, *cells in metric_rows(summary, object_iou)
    ]
    resamples = summary.get("bootstrap", {}).get("resamples", "?")
    caption = (
        f"{subset}: {summary.get('n_images', '?')} images, {summary.get('n_empty_truth', '?')} "
        f"with empty ground truth, {summary.get('n_empty_pred', '?')} predicted empty; "
        f"95 % intervals from {resamples} bootstrap resamples over images"
    )
    return markup.table(METRIC_HEADERS, rows, caption, "metrics")


def metrics_section(run_dir: Path) -> str:
    config_iou = _lookup(read_config(run_dir) or {}, "evaluation.object_iou")
    parts = []
    for folder in eval_dirs(run_dir):
        summary = _json_object(folder / METRICS_JSON) or {}
        subset = str(summary.get("subset") or _subset(folder))
        table = metrics_table(summary, subset, config_iou)
        parts.append(f"<h3>{markup.text(subset)} split</h3>{table}")
    evaluated = {_subset(folder) for folder in eval_dirs(run_dir)}
    if "test" not in evaluated:
        parts.append(
            note(
                "No test evaluation yet: run sparseg evaluate --run RUN --data DATA --subset test."
            )
        )
    if "val" not in evaluated:
        parts.append(
            note(
                "Validation Dice from training and tuning is shown in those sections; for every "
                "convention on the validation split run sparseg evaluate ... --subset val."
            )
        )
    return "".join(parts)


# ---------------------------------------------------------------- cases
def resolve_data_root(run_dir: Path, data_root: Path | None, eval_dir: Path) -> Path | None:
    """``data_root`` if given, else the one recorded by evaluate (metrics.json) or train."""
    if data_root is not None:
        if not Path(data_root).is_dir():
            raise SparsegError(f"{data_root}: data folder not found")
        return Path(data_root)
    for summary in (
        _json_object(eval_dir / METRICS_JSON),
        _json_object(RunPaths(run_dir).train_summary),
    ):
        recorded = (summary or {}).get("data_root")
        if recorded and Path(recorded).is_dir():
            return Path(recorded)
    return None


def _case_figure(case: Case, item: Item, pred: Path, label: Any) -> str:
    label = label if isinstance(label, int) else None
    panels = load_case_panels(item, pred, label)
    images = "".join(
        f"<figure>{markup.image(png_bytes(panel), f'{case.id}: {name}', 'overlay')}"
        f"<figcaption>{markup.text(name)}</figcaption></figure>"
        for name, panel in panels.items()
    )
    title = f"{case.id} — Dice {case.dice:.3f}"
    return (
        f'<div class="case"><h4>{markup.text(title)}</h4><div class="panels">{images}</div></div>'
    )


def cases_section(run_dir: Path, data_root: Path | None) -> str:
    folders = eval_dirs(run_dir)
    if not folders:
        return note("No evaluation yet: run sparseg evaluate to see the best and worst cases.")
    folder = folders[0]
    per_image = folder / PER_IMAGE_CSV
    if not per_image.is_file():
        return note(f"No {per_image.name} in {folder}: run sparseg evaluate again.")
    root = resolve_data_root(run_dir, data_root, folder)
    if root is None:
        return note(
            "The data set this run was evaluated on is not recorded: pass --data ROOT to draw "
            "the best and worst cases."
        )
    items = {item.id: item for item in discover_items(root)}
    best, worst = pick_cases(read_case_dice(per_image))
    if not best:
        return note("Every evaluated image has an empty ground truth and an empty prediction.")
    config = read_config(run_dir) or {}
    label = _lookup(config, "data.label")
    parts = [
        note(
            f"From the {_subset(folder)} split, ranked by per-image Dice "
            "(images where truth and prediction are both empty are left out). Ground truth "
            "in green; prediction: yellow correct, red false positive, blue missed."
        )
    ]
    for title, cases in (("best", best), ("worst", worst)):
        if not cases:
            continue
        figures = []
        for case in cases:
            item = items.get(case.id)
            pred = prediction_file(folder / MASKS_DIR, item) if item is not None else None
            if item is None or pred is None or not pred.is_file():
                figures.append(note(f"{case.id}: image or predicted mask not found"))
                continue
            figures.append(_case_figure(case, item, pred, label))
        parts.append(f"<h3>{title}</h3>{''.join(figures)}")
    return "".join(parts)


# ---------------------------------------------------------------- tuning
def tuning_section(run_dir: Path) -> str:
    payload = _json_object(RunPaths(run_dir).inference)
    if payload is None:
        return note("No inference.json yet: run sparseg tune to choose the inference steps.")
    rows = decision_rows(payload)
    caption = (
        f"greedy, in this order, on {payload.get('n_val_images', '?')} validation images "
        f"({payload.get('criterion', 'Dice')}): validation Dice "
        f"{number(payload.get('baseline_val_dice'), 4)} → "
        f"{number(payload.get('tuned_val_dice'), 4)}"
    )
    return markup.table(DECISION_HEADERS, rows, caption, "decisions")


# ---------------------------------------------------------------- ablation
def ablation_section(ablation_dir: Path) -> str:
    if not ablation_dir.is_dir():
        raise SparsegError(f"{ablation_dir}: ablation folder not found")
    parts = []
    chart = ablation_dir / "ablation.png"
    if chart.is_file() and chart.read_bytes().startswith(PNG_SIGNATURE):
        parts.append(markup.image(chart.read_bytes(), "Dice per ablation stage", "chart"))
    else:
        parts.append(note(f"No ablation.png (a PNG image) in {ablation_dir}."))
    table = ablation_dir / "ablation.md"
    if table.is_file():
        source = table.read_text(encoding="utf-8", errors="replace")
        parts.append(f'<div class="markdown">{markup.markdown(source)}</div>')
    else:
        parts.append(note(f"No ablation.md in {ablation_dir}: run sparseg ablate."))
    return "".join(parts)
