"""The configuration reference page: generated from the schema, and committed as generated."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from sparseg.config.reference import REGENERATE, load_presets, main, reference_markdown

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "configuration.md"


def row(markdown: str, key: str) -> list[str]:
    (line,) = [line for line in markdown.splitlines() if line.startswith(f"| `{key}` |")]
    return [cell.strip() for cell in line.strip("|").split(" | ")]


def test_the_committed_page_is_what_the_schema_and_presets_generate() -> None:
    expected = reference_markdown(load_presets())
    committed = PAGE.read_text(encoding="utf-8") if PAGE.is_file() else ""
    if committed != expected:
        diff = difflib.unified_diff(
            committed.splitlines(), expected.splitlines(), "committed", "generated", lineterm=""
        )
        shown = "\n".join(list(diff)[:20])
        pytest.fail(f"docs/configuration.md is out of date; run `{REGENERATE}`\n{shown}")


def test_a_row_gives_type_default_allowed_values_description_and_presets() -> None:
    page = reference_markdown({"mine": {"data": {"mode": "patch"}}, "other": {"seed": 3}})
    assert row(page, "data.mode") == [
        "`data.mode`",
        "str",
        "`resize`",
        "`resize`, `patch`",
        "resize every image to input_size, or train on patches of it",
        "`mine`",
    ]
    assert row(page, "seed")[-1] == "`other`" and row(page, "data.cache")[-1] == ""


def test_defaults_are_the_default_configuration_and_sections_are_expanded() -> None:
    page = reference_markdown({})
    assert row(page, "augment.hflip.p")[2] == "`0.5`"  # the section's default, not Transform's 0
    assert row(page, "augment.hflip.p")[3] == "0 ≤ x ≤ 1"
    assert row(page, "training.progressive")[1:3] == ["section or null", "`null`"]
    assert row(page, "training.progressive.start_scale")[2:4] == [
        "`0.5`",
        "0 &lt; x &lt; 1",
    ]  # no HTML tag
    assert row(page, "loss.pos_weight")[1] == "float or str or null"
    assert "## `inference.crf`" in page and "`inference.crf` |" not in page


def test_the_module_writes_the_page_or_names_a_missing_presets_folder(tmp_path, capsys) -> None:
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "tiny.yaml").write_text("training:\n  lr: 0.1\n")
    out = tmp_path / "configuration.md"
    assert main([str(out), "--presets", str(tmp_path / "configs")]) == 0
    assert row(out.read_text(encoding="utf-8"), "training.lr")[-1] == "`tiny`"
    assert main([str(out), "--presets", str(tmp_path / "nowhere")]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"error: {tmp_path / 'nowhere'}: presets folder not found"
    )
