"""The configuration reference page, generated from the schema: every key with its type,
default, allowed values, description and the presets that set it.

``python -m sparseg.config.reference docs/configuration.md`` (``make docs-reference``) rewrites
the page; a test fails while the committed page differs from what the schema and the shipped
presets generate.
"""

from __future__ import annotations

import argparse
import sys
import types
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from sparseg.config.loading import read_yaml_mapping
from sparseg.config.presets import PRESET_DIR
from sparseg.config.schema import Config
from sparseg.errors import SparsegError
from sparseg.io_utils import atomic_write_text

REGENERATE = "make docs-reference"
_MISSING = object()
_BOUND_SYMBOLS = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}

INTRODUCTION = f"""\
# Configuration reference

<!-- Generated from src/sparseg/config/schema.py and the presets (src/sparseg/config/presets/,
     linked from configs/) by `{REGENERATE}`; do not edit by hand. -->

Every key of the YAML configuration, section by section: its type, its default, the values it
allows, what it does, and which shipped presets set it (`--config budget`, or
`configs/budget.yaml` in a clone). Set a key in your own YAML file (only the keys you change)
or on the command line with `--set section.key=value`;
`sparseg config show` prints the resolved configuration. An unknown key or a value out of range
is refused with one `error:` line that names the key.
"""


def load_presets(folder: Path = PRESET_DIR) -> dict[str, dict[str, Any]]:
    """Each ``*.yaml`` of ``folder`` by name (its stem), as written (not validated)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SparsegError(f"{folder}: presets folder not found")
    return {path.stem: read_yaml_mapping(path) for path in sorted(folder.glob("*.yaml"))}


def reference_markdown(presets: Mapping[str, Mapping[str, Any]]) -> str:
    """The whole reference page as Markdown, for the schema and these presets."""
    parts = [INTRODUCTION]
    for title, rows in _tables(Config, Config(), ()):
        parts.append(f"\n## {title}\n\n")
        parts.append("| key | type | default | allowed | description | set by |\n")
        parts.append("|---|---|---|---|---|---|\n")
        for path, field, default in rows:
            setters = [name for name, raw in presets.items() if _lookup(raw, path) is not _MISSING]
            cells = [
                f"`{'.'.join(path)}`",
                _escape(_type_text(_annotation(field))),
                f"`{_escape(_value_text(default))}`",
                _escape(_allowed_text(_annotation(field))),
                _escape(" ".join((field.description or "").split())),
                ", ".join(f"`{name}`" for name in setters),
            ]
            parts.append(f"| {' | '.join(cells)} |\n")
    return "".join(parts)


def _tables(
    model: type[BaseModel], instance: BaseModel, path: tuple[str, ...]
) -> Iterator[tuple[str, list[tuple[tuple[str, ...], FieldInfo, Any]]]]:
    """(heading, rows of (key path, field, default)) for a section, then for each section
    nested in it; the defaults are those of the default configuration."""
    rows: list[tuple[tuple[str, ...], FieldInfo, Any]] = []
    nested: list[tuple[str, type[BaseModel], Any]] = []
    for name, field in model.model_fields.items():
        default = getattr(instance, name)
        section = _section_type(_annotation(field))
        if section is None or default is None:
            rows.append(((*path, name), field, _plain(default)))
        if section is not None:
            nested.append((name, section, default if default is not None else section()))
    if rows:
        yield (f"`{'.'.join(path)}`" if path else "top level"), rows
    for name, section, default in nested:
        yield from _tables(section, default, (*path, name))


def _annotation(field: FieldInfo) -> Any:
    """The field's type with the constraints pydantic moved into ``field.metadata`` put back."""
    if field.metadata:
        return Annotated[(field.annotation, *field.metadata)]
    return field.annotation


def _section_type(annotation: Any) -> type[BaseModel] | None:
    """The section class of a field holding a section (or a section or null)."""
    annotation = _strip(annotation)
    options = _union_args(annotation) or (annotation,)
    sections = [arg for arg in options if isinstance(arg, type) and issubclass(arg, BaseModel)]
    return sections[0] if sections else None


def _strip(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _union_args(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return ()


def _type_text(annotation: Any) -> str:
    annotation = _strip(annotation)
    if args := _union_args(annotation):
        return " or ".join(dict.fromkeys(_type_text(arg) for arg in args))
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is Literal:
        return " or ".join(dict.fromkeys(type(value).__name__ for value in args))
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {_type_text(args[0])}"
        return f"[{', '.join(_type_text(arg) for arg in args)}]"
    if origin is list:
        return f"list of {_type_text(args[0])}"
    if origin is dict:
        return f"mapping of {_type_text(args[0])} to {_type_text(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return getattr(annotation, "__name__", str(annotation))


def _allowed_text(annotation: Any) -> str:
    bounds = _bounds_text(annotation)
    annotation = _strip(annotation)
    if args := _union_args(annotation):
        return "; or ".join(filter(None, dict.fromkeys(_allowed_text(arg) for arg in args)))
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return ", ".join(f"`{_value_text(value)}`" for value in args)
    if origin in (tuple, list):
        inner = dict.fromkeys(_allowed_text(arg) for arg in args if arg is not Ellipsis)
        return " ".join(f"each {text}" for text in inner if text)
    if origin is dict:
        inner = _allowed_text(args[1])
        return f"each value {inner}" if inner else ""
    return bounds


def _bounds_text(annotation: Any) -> str:
    """``0 ≤ x ≤ 1``, ``> 0`` … from the constraints of an ``Annotated`` type."""
    bounds: dict[str, Any] = {}
    while get_origin(annotation) is Annotated:
        annotation, *metadata = get_args(annotation)
        for item in metadata:
            for constraint in item.metadata if isinstance(item, FieldInfo) else [item]:
                for name in _BOUND_SYMBOLS:
                    if getattr(constraint, name, None) is not None:
                        bounds[name] = getattr(constraint, name)
    lower = [(name, bounds[name]) for name in ("ge", "gt") if name in bounds]
    upper = [(name, bounds[name]) for name in ("le", "lt") if name in bounds]
    if lower and upper:
        (low_name, low), (high_name, high) = lower[0], upper[0]
        low_symbol = "≤" if low_name == "ge" else "<"
        return f"{low:g} {low_symbol} x {_BOUND_SYMBOLS[high_name]} {high:g}"
    return " ".join(f"{_BOUND_SYMBOLS[name]} {value:g}" for name, value in lower + upper)


def _plain(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def _value_text(value: Any) -> str:
    """A value as it is written in YAML (flow style)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}: {_value_text(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value_text(item) for item in value) + "]"
    if isinstance(value, str):
        return value if value else '""'
    return str(value)


def _escape(text: str) -> str:
    """Safe in a Markdown table cell: no column breaks, no HTML tags."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _lookup(raw: Mapping[str, Any], path: Sequence[str]) -> Any:
    node: Any = raw
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sparseg.config.reference",
        description="Write the configuration reference page generated from the schema.",
    )
    parser.add_argument("out", type=Path, help="Markdown file to write")
    parser.add_argument(
        "--presets", type=Path, default=PRESET_DIR, help="presets folder (default: shipped)"
    )
    args = parser.parse_args(argv)
    try:
        atomic_write_text(args.out, reference_markdown(load_presets(args.presets)))
    except SparsegError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
