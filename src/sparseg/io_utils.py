"""Atomic file writes and output-path guards, so no run leaves a half-written file behind."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sparseg.errors import SparsegError


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temp file beside ``path``, fsync it, rename it over ``path``.

    A crash at any moment leaves either the old file or the new one, never a torn one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as stream:
            os.fsync(stream.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give files the usual mode
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: Path, payload: Any) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2) + "\n")


def read_json(path: Path) -> Any:
    """Read a JSON file; a missing or malformed file is a one-line :class:`SparsegError`."""
    path = Path(path)
    if not path.is_file():
        raise SparsegError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SparsegError(f"{path}: not valid JSON ({exc})") from None


def ensure_output_dir(out: Path, *inputs: Path) -> Path:
    """Create ``out`` unless it is a file or lies inside (or is) one of the ``inputs`` folders."""
    out = Path(out).resolve()
    for source in inputs:
        source = Path(source).resolve()
        if out == source or source in out.parents:
            raise SparsegError(f"{out}: output folder lies inside the input folder {source}")
    if out.exists() and not out.is_dir():
        raise SparsegError(f"{out}: output path exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    return out


def ensure_output_file(out: Path, suffixes: tuple[str, ...], *inputs: Path) -> Path:
    """Refuse a file output that would destroy something, else return it resolved.

    Refused: an existing folder; one of the ``inputs`` (files) or a path inside one of them
    (folders); an existing file whose suffix is not one of ``suffixes`` (``--json`` pointed at an
    image, ``--onnx`` at a checkpoint).
    """
    out = Path(out).resolve()
    if out.is_dir():
        raise SparsegError(f"{out}: output path is a folder; give a file name")
    for source in inputs:
        source = Path(source).resolve()
        if out == source:
            raise SparsegError(f"{out}: output would overwrite an input file")
        if source in out.parents:
            raise SparsegError(f"{out}: output file lies inside the input folder {source}")
    if out.exists() and out.suffix.lower() not in suffixes:
        raise SparsegError(
            f"{out}: exists and is not a {'/'.join(suffixes)} file; refusing to overwrite it"
        )
    return out
