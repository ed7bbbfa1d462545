"""Reading a YAML config, applying ``section.key=value`` overrides and validating it; every
problem becomes one :class:`SparsegError` line naming the key path."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from sparseg.config.presets import PRESET_NAMES, preset_path
from sparseg.config.schema import Config
from sparseg.errors import SparsegError
from sparseg.io_utils import atomic_write_text


def _format_validation_error(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    key = ".".join(_key_text(part) for part in first["loc"]) or "(top level)"
    message = " ".join(first["msg"].removeprefix("Value error, ").split())
    if first["type"] == "extra_forbidden":
        section = _section_at(first["loc"][:-1])
        allowed = ", ".join(section.model_fields) if section else ""
        message = f"unknown key (allowed: {allowed})" if allowed else "unknown key"
    more = f" (and {len(error.errors()) - 1} more)" if len(error.errors()) > 1 else ""
    return f"{source}: {key}: {message}{more}"


def _key_text(part: Any) -> str:
    """A key as typed, or quoted when it would break the one-line message (newlines, blanks)."""
    text = str(part)
    return text if text.isprintable() and text.strip() == text and text else repr(text)


def _section_at(location: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = Config
    for part in location:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that refuses a key given twice (PyYAML silently keeps the last one,
    so a second ``training:`` block would quietly erase the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # unhashable key: PyYAML's own error follows
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _load_yaml(text: str) -> Any:
    """Safe-load ``text``; every failure is a :class:`yaml.YAMLError`."""
    loader = _UniqueKeyLoader(text)
    try:
        return loader.get_single_data()
    except RecursionError:
        raise yaml.YAMLError("nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise yaml.YAMLError(" ".join(str(exc).split())[:120]) from None
    except IndexError:  # PyYAML's float constructor on an empty explicit tag: "!!float "
        raise yaml.YAMLError("an explicitly tagged scalar has no value") from None
    finally:
        loader.dispose()


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """`` at line N (problem)`` for a one-line message."""
    where = getattr(exc, "problem_mark", None)
    line = f" at line {where.line + 1}" if where else ""
    problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
    return f"{line} ({problem[:120]})"


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"training.lr=1e-3"`` → (["training", "lr"], 0.001); the value is parsed as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise SparsegError(f"--set {text!r}: expected section.key=value")
    try:
        value = _load_yaml(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise SparsegError(f"--set {text!r}: value is not valid YAML{_yaml_problem(exc)}") from None
    if isinstance(value, str):  # YAML 1.1 reads "1e-3" as text; users mean a number
        with contextlib.suppress(ValueError):
            value = float(value)
    return key.strip().split("."), value


def parent_section(raw: dict[str, Any], path: list[str], where: str) -> dict[str, Any]:
    """The mapping that holds ``path[-1]`` in ``raw``, creating missing sections on the way."""
    node = raw
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise SparsegError(f"{where}: {part} is not a section")
        node = child
    return node


def apply_overrides(raw: dict[str, Any], overrides: list[str], source: str) -> dict[str, Any]:
    for text in overrides:
        path, value = parse_override(text)
        parent_section(raw, path, f"--set {text!r}")[path[-1]] = value
    return raw


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """Safe-load a YAML file that must hold a mapping (an empty file is an empty mapping)."""
    if not path.is_file():
        names = ", ".join(PRESET_NAMES)
        raise SparsegError(f"{path}: config file not found (shipped presets by name: {names})")
    try:
        loaded = _load_yaml(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise SparsegError(f"{path}: not a UTF-8 text file") from None
    except yaml.YAMLError as exc:
        raise SparsegError(f"{path}: invalid YAML{_yaml_problem(exc)}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise SparsegError(f"{path}: expected a mapping of sections, got {type(loaded).__name__}")
    return loaded


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read ``path`` (None: all defaults; a shipped preset's name such as ``budget`` when no
    such file exists), apply ``--set`` overrides and validate."""
    source = str(path) if path is not None else "config"
    raw = read_yaml_mapping(resolve_config_path(path)) if path is not None else {}
    raw = apply_overrides(raw, list(overrides or []), source)
    return validate_config(raw, source)


def resolve_config_path(path: str | Path) -> Path:
    """``path`` itself, or the shipped preset it names (``budget``, ``nnunet2d``, ...)."""
    given = Path(path)
    if not given.exists() and str(path) in PRESET_NAMES:
        return preset_path(str(path))
    return given


def validate_config(raw: dict[str, Any], source: str = "config") -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise SparsegError(_format_validation_error(exc, source)) from None


def dump_config(config: Config) -> str:
    """The resolved config as YAML (the form written next to every run)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def save_config(config: Config, path: Path) -> None:
    atomic_write_text(path, dump_config(config))
