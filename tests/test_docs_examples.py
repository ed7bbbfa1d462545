"""Every Python example of the README and the docs runs as written, on a small synthetic data set.

Sybil reads the fenced ``python`` blocks of the Markdown as they stand (no ``>>>`` prompts, which
doctest would need), runs a page's blocks in order in one namespace, and leaves ``bash`` blocks
alone: shell examples are shown, not run.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser

import sparseg

ROOT = Path(__file__).resolve().parents[1]
FIRST = ROOT / "docs" / "getting-started.md"  # it trains runs/quick, which later pages use
OTHER_PAGES = sorted(page for page in (ROOT / "docs").rglob("*.md") if page != FIRST)
PAGES = [FIRST, ROOT / "README.md", *OTHER_PAGES]
EXAMPLE_PAGES = [page for page in PAGES if "```python" in page.read_text(encoding="utf-8")]
SHOWN_ONLY = {"", "bash", "yaml", "text"}
# the settings getting-started.md shrinks configs/quick.yaml with
TINY = ["data.input_size=[64, 64]", "training.batch_size=4", "training.max_steps=2"]
PARSER = Sybil(parsers=[PythonCodeBlockParser(), SkipParser()])


@pytest.fixture(scope="module")
def workspace(synthetic_data, tmp_path_factory) -> Path:
    """A folder as the docs assume it: ``data/`` (images/ + masks/) and ``configs/``."""
    root = tmp_path_factory.mktemp("docs_examples")
    shutil.copytree(synthetic_data, root / "data")
    shutil.copytree(ROOT / "configs", root / "configs")
    return root


def test_the_pages_have_python_examples() -> None:
    assert FIRST in EXAMPLE_PAGES and ROOT / "README.md" in EXAMPLE_PAGES


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_code_block_either_runs_or_is_marked_as_shown_only(page) -> None:
    languages = re.findall(r"^```(\S*)", page.read_text(encoding="utf-8"), flags=re.MULTILINE)
    opening = languages[::2]  # every other fence closes a block
    assert set(opening) <= SHOWN_ONLY | {"python"}, f"{page.name}: blocks {opening}"


@pytest.mark.slow
@pytest.mark.parametrize("page", EXAMPLE_PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_the_python_examples_run(page, workspace, monkeypatch) -> None:
    monkeypatch.chdir(workspace)
    if page != FIRST and not (workspace / "runs" / "quick" / "best.ckpt").is_file():
        sparseg.train(sparseg.load_config("configs/quick.yaml", TINY), "data", "runs/quick")
    examples = list(PARSER.parse(page))
    assert examples
    for example in examples:
        example.evaluate()


def test_the_readme_links_lead_to_files() -> None:
    """The README is read on the forge, outside the site that `mkdocs build --strict` checks."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    assert targets
    missing = [target for target in targets if not (ROOT / target).is_file()]
    assert not missing, f"README.md links to missing files: {missing}"
