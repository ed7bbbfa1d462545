"""Data commands: synth, inspect, split, config show."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sparseg.cli.app import (
    ConfigOption,
    DataArgument,
    SetOption,
    app,
    config_app,
    load_cli_config,
    out,
)
from sparseg.errors import SparsegError


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
    minutes: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            help="size the run for this many training minutes: times a few encoder / input size "
            "/ batch settings on this machine (a few seconds each) and picks one",
        ),
    ] = None,
    write_config: Annotated[
        Path | None,
        typer.Option(
            "--write-config",
            help="write the whole proposed configuration (its recipe preset with the plan "
            "applied) as YAML, ready for `sparseg train --config`",
        ),
    ] = None,
) -> None:
    """Fingerprint a data set and propose a configuration for this machine."""
    from sparseg.data.fingerprint import fingerprint, format_fingerprint
    from sparseg.data.plan import propose_config, proposed_config_text
    from sparseg.io_utils import atomic_write_json, atomic_write_text, ensure_output_file

    if json_out is not None:
        ensure_output_file(json_out, (".json",))
    if write_config is not None:
        ensure_output_file(write_config, (".yaml", ".yml"))
    fp = fingerprint(data, label=label)
    plan = propose_config(fp)
    if minutes is not None:
        from sparseg.data.pretrain_budget import pretrain_split
        from sparseg.training.sizing import apply_sizing

        plan = apply_sizing(fp, plan, minutes)
        split = pretrain_split(minutes)
        plan["reasons"].append(split.reason)
        plan["pretraining"] = split.as_dict()
    out.print(format_fingerprint(fp))
    out.print("\nproposed configuration (sparseg config show --set ... to try it):")
    for reason in plan["reasons"]:
        out.print(f"  - {reason}")
    if json_out is not None:
        atomic_write_json(json_out, {"fingerprint": fp.to_json(), "proposed_config": plan})
        out.print(f"wrote {json_out}")
    if write_config is not None:
        atomic_write_text(write_config, proposed_config_text(plan, data))
        out.print(f"wrote {write_config} (sparseg train --config {write_config} --data {data})")


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
    """Write a k-fold split with a held-out test set, grouped by case (a volume's slices stay
    together) and optionally by subject."""
    from sparseg.data.discovery import discover_items
    from sparseg.data.splits import make_splits, save_split

    items = discover_items(data)
    cases = {item.id: item.group for item in items}
    result = make_splits(list(cases), folds, test_fraction, seed, group_regex, cases)
    save_split(result, out_file)

    def count(ids: list[str]) -> str:
        groups = len({cases[i] for i in ids})
        if groups == len(ids):
            return f"{len(ids)}"
        return f"{len(ids)} ({groups} case{'' if groups == 1 else 's'})"

    sizes = ", ".join(f"{count(f['train'])}/{count(f['val'])}" for f in result["folds"])
    out.print(f"wrote {out_file}: test {count(result['test'])}, folds (train/val) {sizes}")


@config_app.command("show")
def config_show(config: ConfigOption = None, overrides: SetOption = None) -> None:
    """Print the resolved, validated configuration as YAML."""
    from sparseg.config import dump_config

    out.print(
        dump_config(load_cli_config(config, overrides)), end="", markup=False, highlight=False
    )
