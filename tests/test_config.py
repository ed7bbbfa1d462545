from pathlib import Path

import pytest
import yaml

from sparseg.config import Config, dump_config, load_config, parse_override, validate_config
from sparseg.errors import SparsegError

PRESETS = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_presets_load_and_round_trip(preset) -> None:
    config = load_config(preset)
    again = validate_config(yaml.safe_load(dump_config(config)))
    assert again == config


def test_presets_say_what_they_promise() -> None:
    basic = load_config(PRESETS[0].parent / "basic.yaml")
    recipe = load_config(PRESETS[0].parent / "recipe.yaml")
    assert basic.loss.terms == {"dice": 0.5, "bce": 0.5} and basic.training.lr == 1e-4
    assert basic.model.encoder_weights is None and basic.augment.elastic.p == 0
    assert recipe.loss.terms == {"focal_tversky": 0.5, "dice": 0.3, "bce": 0.2}
    assert recipe.model.deep_supervision and recipe.model.activation == "leaky_relu"
    assert recipe.augment.elastic.p == 0.5 and recipe.inference.tta
    assert (recipe.training.max_epochs, recipe.training.patience) == (250, 40)


def test_overrides_are_parsed_as_yaml_and_applied() -> None:
    assert parse_override("training.lr=1e-3") == (["training", "lr"], 0.001)
    assert parse_override("data.input_size=[64, 96]") == (["data", "input_size"], [64, 96])
    config = load_config(None, ["training.lr=0.5", "model.encoder=resnet18", "seed=3"])
    assert (config.training.lr, config.model.encoder, config.seed) == (0.5, "resnet18", 3)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.lrr=1", "training.lrr: unknown key (allowed: optimizer, lr,"),
        ("training.lr=-1", "training.lr: Input should be greater than 0"),
        ("augment.hflip.p=1.5", "augment.hflip.p: Input should be less than or equal to 1"),
        ("training.batch_size=many", "training.batch_size: Input should be a valid integer"),
        ("data.input_size=[100, 100]", "multiples of 32"),
        ("loss.terms={dyce: 1}", "unknown loss term(s) ['dyce']"),
        ("model.activation=gelu", "model.activation: Input should be 'relu', 'leaky_relu'"),
        ("nonsense", "expected section.key=value"),
    ],
)
def test_bad_values_name_the_key(override, message) -> None:
    with pytest.raises(SparsegError) as info:
        load_config(None, [override])
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_yaml_files_that_are_empty_or_not_mappings(tmp_path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_config(empty) == Config()
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(SparsegError, match="expected a mapping of sections, got list"):
        load_config(listing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("training: {lr: [1, 2\n")
    with pytest.raises(SparsegError, match="invalid YAML at line"):
        load_config(broken)
    with pytest.raises(SparsegError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
    tagged = tmp_path / "tagged.yaml"
    tagged.write_text("!!float ")  # PyYAML itself fails with an IndexError on it
    with pytest.raises(SparsegError, match="explicitly tagged scalar has no value"):
        load_config(tagged)
    with pytest.raises(SparsegError, match="explicitly tagged scalar has no value"):
        load_config(None, ["training.lr=!!float "])


def test_shipped_presets_load_by_name_and_configs_links_to_them() -> None:
    from sparseg.config.presets import PRESET_NAMES, preset_path

    assert {"basic", "budget", "nnunet2d", "quick", "recipe"} <= set(PRESET_NAMES)
    for name in PRESET_NAMES:
        assert load_config(name) == load_config(preset_path(name))
        assert (PRESETS[0].parent / f"{name}.yaml").resolve() == preset_path(name).resolve()
    with pytest.raises(SparsegError, match="shipped presets by name: basic"):
        load_config("no-such-preset")
