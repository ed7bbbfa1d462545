"""Bad configuration files and ``--set`` overrides through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import TINY_OVERRIDES
from tests.reliability.support import assert_one_line_error, snapshot


def write_yaml(tmp_path: Path, text: str | bytes, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def show_fails(run_cli, tmp_path: Path, text: str | bytes, *fragments: str) -> None:
    path = write_yaml(tmp_path, text)
    assert_one_line_error(run_cli("config", "show", "--config", path), f"{path}: ", *fragments)


def test_unknown_key_names_the_key_and_the_allowed_ones(run_cli, tmp_path):
    show_fails(
        run_cli, tmp_path, "training:\n  lrr: 0.1\n", "training.lrr: unknown key (allowed: optim"
    )


def test_unknown_section(run_cli, tmp_path):
    show_fails(run_cli, tmp_path, "trainer: {}\n", "trainer: unknown key (allowed: seed, data,")


def test_wrong_type(run_cli, tmp_path):
    show_fails(
        run_cli, tmp_path, "training:\n  batch_size: many\n", "training.batch_size:", "integer"
    )


def test_out_of_range_probability(run_cli, tmp_path):
    show_fails(
        run_cli,
        tmp_path,
        "augment:\n  hflip:\n    p: 1.5\n",
        "augment.hflip.p: Input should be less than or equal to 1",
    )


def test_negative_learning_rate(run_cli, tmp_path):
    show_fails(run_cli, tmp_path, "training: {lr: -1e-3}", "training.lr: Input should be greater")


def test_duplicate_section_is_not_silently_merged(run_cli, tmp_path):
    """PyYAML keeps the last of two equal keys: the first training block would vanish."""
    text = "training:\n  lr: 0.01\naugment: {}\ntraining:\n  batch_size: 4\n"
    show_fails(run_cli, tmp_path, text, "invalid YAML at line 4 (duplicate key 'training')")


@pytest.mark.parametrize("value", [".inf", ".nan", "-.inf"])
def test_non_finite_numbers(run_cli, tmp_path, value):
    show_fails(
        run_cli, tmp_path, f"training:\n  lr: {value}\n", "training.lr: Input should be a finite"
    )


def test_nesting_deeper_than_the_parser_can_go(run_cli, tmp_path):
    show_fails(run_cli, tmp_path, "seed: " + "[" * 3000 + "]" * 3000, "invalid YAML (nested too")


def test_integer_with_thousands_of_digits(run_cli, tmp_path):
    show_fails(run_cli, tmp_path, "seed: " + "9" * 5000, "invalid YAML (Exceeds the limit")


def test_section_that_is_not_a_mapping(run_cli, tmp_path):
    show_fails(run_cli, tmp_path, "training: 3\n", "training: Input should be a valid dictionary")


def test_yaml_that_is_not_a_mapping(run_cli, tmp_path):
    show_fails(run_cli, tmp_path, "- unet\n- resnet34\n", "expected a mapping of sections, got")


def test_invalid_yaml_syntax(run_cli, tmp_path):
    show_fails(run_cli, tmp_path, "training:\n  lr: [0.1\n", "invalid YAML at line 3")


def test_binary_file_as_config(run_cli, tmp_path):
    show_fails(run_cli, tmp_path, b"\xff\xfe\x00binary", "not a UTF-8 text file")


def test_missing_config_file(run_cli, tmp_path):
    missing = tmp_path / "nope.yaml"
    assert_one_line_error(
        run_cli("config", "show", "--config", missing), f"{missing}: config file not found"
    )


def test_empty_yaml_means_all_defaults(run_cli, tmp_path):
    empty = run_cli("config", "show", "--config", write_yaml(tmp_path, ""))
    defaults = run_cli("config", "show")
    assert empty.code == defaults.code == 0, empty.stderr
    assert empty.stdout == defaults.stdout and "lr: 0.0001" in empty.stdout


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("training.lr", "--set 'training.lr': expected section.key=value"),
        ("training.lr=[1", "--set 'training.lr=[1': value is not valid YAML"),
        ("training.lr.x=1", "config: training.lr: Input should be a valid number"),
        ("nosection.x=1", "config: nosection: unknown key (allowed: seed,"),
        ("seed=" + "[" * 3000 + "]" * 3000, "value is not valid YAML (nested too deeply)"),
        ("training={lr: 1, lr: 2}", "value is not valid YAML at line 1 (duplicate key 'lr')"),
    ],
    ids=["no-equals", "bad-yaml", "key-below-a-value", "unknown-section", "deep", "duplicate"],
)
def test_bad_overrides(run_cli, override, fragment):
    assert_one_line_error(run_cli("config", "show", "--set", override), fragment)


def test_patch_larger_than_every_image(run_cli, dataset, tmp_path):
    """Found when training starts (the config alone cannot know the images' sizes)."""
    before = snapshot(dataset)
    settings = [f"--set={item}" for item in TINY_OVERRIDES]
    result = run_cli(
        "train",
        "--data",
        dataset,
        "--out",
        tmp_path / "run",
        *settings,
        "--set=data.mode=patch",
        "--set=data.input_size=[128, 96]",
        "--quiet",
    )
    assert_one_line_error(
        result, "data.input_size: patch 128x96 is larger than every image (largest 64x64)"
    )
    assert snapshot(dataset) == before
