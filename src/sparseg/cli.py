"""The ``sparseg`` command line (typer). Each command parses its options and calls one library
function; bad input surfaces as one ``error:`` line on stderr with exit code 2.

Heavy libraries (torch, smp) are imported inside the commands that need them, so ``--help`` and
the data commands answer in well under a second.
"""

from __future__ import annotations

import itertools
import sys
import traceback
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sparseg import __version__
from sparseg.errors import SparsegError, SparsegWarning

app = typer.Typer(
    name="sparseg",
    help="Segment small structures in medical images: inspect, train, tune, evaluate, export.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
config_app = typer.Typer(help="Inspect configurations.", no_args_is_help=True)
app.add_typer(config_app, name="config")

_default_showwarning = warnings.showwarning
out = Console(width=None if sys.stdout.isatty() else 120)  # tables stay readable when piped
err = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="YAML config (default: built-in defaults)")
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="override a key: section.key=value (repeatable)"),
]
DataArgument = Annotated[Path, typer.Argument(help="data set folder (images/ + masks/)")]
DataOption = Annotated[Path, typer.Option("--data", "-d", help="data set folder")]
SplitOption = Annotated[
    Path | None, typer.Option("--split", help="split JSON ({test, folds} or {train, val, test})")
]


def _version(value: bool) -> None:
    if value:
        out.print(f"sparseg {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False,
) -> None:
    """sparseg: the full small-structure segmentation recipe, measured honestly."""


def _load_config(config: Path | None, overrides: list[str] | None):
    from sparseg.config import load_config

    return load_config(config, overrides or [])


# ---------------------------------------------------------------- data commands
@app.command()
def synth(
    out_dir: Annotated[Path, typer.Argument(help="folder to write images/ and masks/ into")],
    n: Annotated[int, typer.Option(min=1, help="number of image/mask pairs")] = 200,
    size: Annotated[str, typer.Option(help="HxW, e.g. 256x256")] = "256x256",
    fg: Annotated[
        float, typer.Option(min=0.0001, max=0.25, help="mean foreground share of non-empty images")
    ] = 0.005,
    empty: Annotated[float, typer.Option(min=0.0, max=1.0, help="share of empty masks")] = 0.3,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    preview: Annotated[
        Path | None, typer.Option(help="also write a PNG grid of samples with mask overlays")
    ] = None,
) -> None:
    """Generate synthetic ultrasound images with small targets (the built-in demo data)."""
    from sparseg.data.synthetic import render_preview, synthesize

    height, _, width = size.lower().partition("x")
    if not (height.isdigit() and width.isdigit()):
        raise SparsegError(f"--size {size!r}: expected HxW, e.g. 256x256")
    ids = synthesize(out_dir, n=n, size=(int(height), int(width)), fg=fg, empty=empty, seed=seed)
    out.print(f"wrote {len(ids)} image/mask pairs to {out_dir}")
    if preview is not None:
        render_preview(out_dir, preview, seed=seed)
        out.print(f"wrote preview {preview}")


@app.command()
def inspect(
    data: DataArgument,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="also write the fingerprint as JSON")
    ] = None,
    label: Annotated[int | None, typer.Option(help="label value kept as foreground")] = None,
) -> None:
    """Fingerprint a data set and propose a configuration for this machine."""
    from sparseg.data.fingerprint import fingerprint, format_fingerprint
    from sparseg.data.plan import propose_config
    from sparseg.io_utils import atomic_write_json

    fp = fingerprint(data, label=label)
    plan = propose_config(fp)
    out.print(format_fingerprint(fp))
    out.print("\nproposed configuration (sparseg config show --set ... to try it):")
    for reason in plan["reasons"]:
        out.print(f"  - {reason}")
    if json_out is not None:
        atomic_write_json(json_out, {"fingerprint": fp, "proposed_config": plan})
        out.print(f"wrote {json_out}")


@app.command()
def split(
    data: DataArgument,
    out_file: Annotated[Path, typer.Option("--out", help="split JSON to write")],
    folds: Annotated[int, typer.Option(min=2, help="cross-validation folds")] = 5,
    test_fraction: Annotated[float, typer.Option(min=0.0, max=0.9)] = 0.15,
    group_regex: Annotated[
        str | None, typer.Option(help="regex whose first group names an id's subject")
    ] = None,
    seed: int = 0,
) -> None:
    """Write a (subject-grouped) k-fold split with a held-out test set."""
    from sparseg.data.pairs import discover_pairs
    from sparseg.data.splits import make_splits, save_split

    ids = [pair.id for pair in discover_pairs(data)]
    result = make_splits(ids, folds, test_fraction, seed, group_regex)
    save_split(result, out_file)
    sizes = ", ".join(f"{len(f['train'])}/{len(f['val'])}" for f in result["folds"])
    out.print(f"wrote {out_file}: test {len(result['test'])}, folds (train/val) {sizes}")


@config_app.command("show")
def config_show(config: ConfigOption = None, overrides: SetOption = None) -> None:
    """Print the resolved, validated configuration as YAML."""
    from sparseg.config import dump_config

    out.print(dump_config(_load_config(config, overrides)), end="", markup=False, highlight=False)


# ---------------------------------------------------------------- training
@app.command()
def train(
    data: DataOption,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="run directory")],
    config: ConfigOption = None,
    overrides: SetOption = None,
    split_file: SplitOption = None,
    fold: Annotated[str, typer.Option(help="fold of a k-fold split file, or 'all'")] = "0",
    resume: Annotated[bool, typer.Option(help="continue from RUN_DIR/last.ckpt")] = False,
    devices: Annotated[int | None, typer.Option(min=1, help="processes (DDP)")] = None,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Train a model; RUN_DIR receives config, checkpoints, metrics.csv and train_summary.json."""
    from sparseg.training import train_folds

    cfg = _resume_or_load(out_dir, config, overrides, resume)
    if devices is not None:
        cfg.training.devices = devices
    summaries = train_folds(cfg, data, out_dir, split_file, fold, resume, quiet)
    for name, summary in summaries.items():
        if summary is not None:
            out.print(
                f"{name}: best val Dice {summary['best_val_dice']:.4f} at epoch "
                f"{summary['best_epoch']} ({summary['steps']} steps, {summary['stop_reason']})"
            )


def _resume_or_load(run_dir: Path, config: Path | None, overrides: list[str] | None, resume: bool):
    """A resumed run keeps the configuration it was started with."""
    saved = run_dir / "config.yaml"
    if resume and saved.is_file() and config is None and not overrides:
        return _load_config(saved, None)
    return _load_config(config, overrides)


@app.command("augment-preview")
def augment_preview(
    data: DataOption,
    out_png: Annotated[Path, typer.Option("--out", "-o", help="PNG to write")],
    config: ConfigOption = None,
    overrides: SetOption = None,
    n: Annotated[int, typer.Option(min=1, max=32, help="samples")] = 4,
) -> None:
    """Write a PNG grid of augmented training samples with mask contours."""
    import torch

    from sparseg.augment import build_augmentation
    from sparseg.augment.preview import render_augment_preview
    from sparseg.data.dataset import SegDataset
    from sparseg.data.pairs import discover_pairs

    cfg = _load_config(config, overrides)
    pairs = discover_pairs(data)
    foreground = (p for p in pairs if _has_foreground(p.mask, cfg.data.label))
    with_foreground = list(itertools.islice(foreground, n))
    dataset = SegDataset(with_foreground or pairs[:n], cfg.data.input_size, cfg.data.normalize)
    batch = torch.utils.data.default_collate([dataset[i] for i in range(len(dataset))])
    torch.manual_seed(cfg.seed)
    augment = build_augmentation(cfg.augment)
    render_augment_preview(batch["image"], batch["mask"], augment, out_png, rows=len(dataset))
    out.print(f"wrote {out_png}")


def _has_foreground(mask: Path | None, label: int | None) -> bool:
    from sparseg.data.io import read_mask

    return mask is not None and bool(read_mask(mask, label).any())


# ---------------------------------------------------------------- inference and evaluation
RunOption = Annotated[
    list[Path], typer.Option("--run", "-r", help="run directory (repeat: ensemble)")
]


@app.command()
def tune(
    run: Annotated[Path, typer.Option("--run", "-r", help="run directory")],
    data: DataOption,
    split_file: SplitOption = None,
    fold: Annotated[int, typer.Option(min=0)] = 0,
) -> None:
    """Decide threshold, TTA, post-processing, CRF and empty gate on validation."""
    from sparseg.inference.tune import tune as tune_run
    from sparseg.reporting.tables import decisions_table

    payload = tune_run(run, data, split_file, fold)
    out.print(decisions_table(payload))
    out.print(f"wrote {run / 'inference.json'}")


@app.command()
def predict(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="folder for the mask PNGs")],
    input_path: Annotated[Path, typer.Option("--input", "-i", help="image file or folder")],
    runs: Annotated[
        list[Path] | None, typer.Option("--run", "-r", help="run directory (repeat: ensemble)")
    ] = None,
    onnx: Annotated[Path | None, typer.Option(help="predict with an exported ONNX model")] = None,
    probabilities: Annotated[
        bool, typer.Option(help="also write 16-bit probability PNGs into OUT/probabilities/")
    ] = False,
) -> None:
    """Write one binary mask PNG per image, at the image's native size."""
    if bool(runs) == (onnx is not None):
        raise SparsegError("predict: give either --run (one or more) or --onnx, not both")
    if onnx is not None:
        from sparseg.inference.onnx_predict import predict_folder_onnx

        written = predict_folder_onnx(onnx, input_path, out_dir, probabilities)
    else:
        from sparseg.inference.predict import predict_folder

        written = predict_folder(list(runs or []), input_path, out_dir, probabilities)
    out.print(f"wrote {len(written)} masks to {out_dir}")


@app.command()
def evaluate(
    runs: RunOption,
    data: DataOption,
    split_file: SplitOption = None,
    fold: Annotated[int, typer.Option(min=0)] = 0,
    subset: Annotated[str, typer.Option(help="test, val, train or all")] = "test",
    json_out: Annotated[Path | None, typer.Option("--json", help="copy of metrics.json")] = None,
) -> None:
    """Predict a split of the data and score it in every Dice convention."""
    from sparseg.evaluation.score import format_metrics_table, json_safe
    from sparseg.inference.predict import evaluate_runs
    from sparseg.io_utils import atomic_write_json

    summary = evaluate_runs(runs, data, split_file, fold, subset)
    out.print(format_metrics_table(summary))
    if json_out is not None:
        atomic_write_json(json_out, json_safe(summary))


@app.command()
def score(
    pred: Annotated[Path, typer.Option("--pred", "-p", help="folder of predicted masks")],
    data: DataOption,
    split_file: SplitOption = None,
    subset: Annotated[str, typer.Option(help="split subset to score (with --split)")] = "test",
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="folder for metrics files")
    ] = None,
    label: Annotated[int | None, typer.Option(help="label value kept as foreground")] = None,
) -> None:
    """Score existing masks from any tool against a data set's ground truth."""
    from sparseg.data.pairs import discover_pairs
    from sparseg.data.splits import load_split
    from sparseg.evaluation.score import format_metrics_table, score_folder

    ids = None
    if split_file is not None:
        known = [pair.id for pair in discover_pairs(data)]
        ids = getattr(load_split(split_file, 0, known), subset)
    summary = score_folder(pred, data, ids, out_dir, label=label)
    out.print(format_metrics_table(summary))


@app.command()
def export(
    run: Annotated[Path, typer.Option("--run", "-r", help="run directory")],
    onnx: Annotated[Path, typer.Option(help="ONNX file to write")],
    tta: Annotated[bool, typer.Option(help="fold 8-fold TTA into the graph")] = False,
) -> None:
    """Export the run's best model to ONNX (sigmoid folded in), verified against PyTorch."""
    from sparseg.inference.onnx_predict import export_run

    difference = export_run(run, onnx, tta)
    out.print(f"wrote {onnx} (max abs difference to PyTorch {difference:.2e})")


# ---------------------------------------------------------------- evidence
@app.command()
def report(
    run: Annotated[Path, typer.Option("--run", "-r", help="run directory")],
    out_html: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write")],
    ablation: Annotated[
        Path | None, typer.Option(help="ablation folder (ablation.md, ablation.png)")
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", "-d", help="data set (default: the one evaluated)")
    ] = None,
) -> None:
    """Write a self-contained HTML report: config, curves, metrics, cases, tuning, ablation."""
    from sparseg.reporting.report import render_report

    render_report(run, out_html, ablation, data)
    out.print(f"wrote {out_html}")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one clear line and exit 2 for bad input, exit 1 for a bug."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    with warnings.catch_warnings():
        warnings.simplefilter("always", SparsegWarning)
        warnings.showwarning = _show_warning
        try:
            app(args=args, prog_name="sparseg", standalone_mode=False)
        except SparsegError as exc:
            _fail(exc, debug, f"error: {exc}", 2)
        except typer.Exit as exc:
            sys.exit(exc.exit_code)
        except typer.Abort:
            _fail(None, debug, "aborted", 130)
        except KeyboardInterrupt:
            _fail(None, debug, "interrupted", 130)
        except Exception as exc:
            if hasattr(exc, "show") and hasattr(exc, "exit_code"):  # click's usage errors
                exc.show()
                sys.exit(exc.exit_code)
            # a bug: one short line unless --debug
            _fail(
                exc, debug, f"internal error: {type(exc).__name__}: {exc} (rerun with --debug)", 1
            )


def _fail(exc: BaseException | None, debug: bool, line: str, code: int) -> None:
    if debug and exc is not None:
        traceback.print_exception(exc)
    err.print(line, markup=False, highlight=False)
    sys.exit(code)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    if issubclass(category, SparsegWarning):
        err.print(f"warning: {message}", markup=False, highlight=False)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


if __name__ == "__main__":
    main()
