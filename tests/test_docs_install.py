"""`pip install .` (the README's install) admits exactly the versions the tests run with."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parents[1]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_dependency_range_admits_the_locked_version() -> None:
    lock = dict(
        line.strip().split("==")
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    locked = {canonical(name): version for name, version in lock.items()}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [
        Requirement(text)
        for text in [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    ]
    outside = [
        f"{req} (locked {locked.get(canonical(req.name), 'nowhere')})"
        for req in requirements
        if canonical(req.name) not in locked
        or not req.specifier.contains(locked[canonical(req.name)], prereleases=True)
    ]
    assert not outside, f"pyproject.toml ranges that exclude requirements.lock: {outside}"
