"""Ladder parsing: cumulative and leave-one-out resolution, skipped stages, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sparseg.ablation.ladder import apply_dotted, load_ladder, slugify
from sparseg.config import load_config
from sparseg.errors import SparsegError

REPO = Path(__file__).resolve().parents[2]
BASE = {"model": {"encoder": "resnet18"}, "augment": {"elastic": {"alpha": 50.0}}}


def write_ladder(folder: Path, stages: list, mode: str = "cumulative", **extra) -> Path:
    (folder / "base.yaml").write_text(yaml.safe_dump(BASE))
    path = folder / "ladder.yaml"
    path.write_text(yaml.safe_dump({"base": "base.yaml", "mode": mode, "stages": stages, **extra}))
    return path


def test_cumulative_stages_stack_their_overrides(tmp_path: Path) -> None:
    path = write_ladder(
        tmp_path,
        [
            {"name": "basic", "claim": [0.2, 0.3]},
            {"name": "+ elastic", "overrides": {"augment.elastic": {"p": 0.5}}},
            {"name": "+ lr", "overrides": {"training.lr": 0.002}, "tune": True},
            {"name": "+ crf", "after_tune": {"inference.crf.enabled": True}},
            {"name": "+ ensemble", "ensemble_folds": 3},
        ],
    )
    stages = load_ladder(path).stages
    assert [s.slug for s in stages] == ["01-basic", "02-elastic", "03-lr", "04-crf", "05-ensemble"]
    assert stages[0].config.augment.elastic.p == 0.0
    assert stages[0].claim == (0.2, 0.3)
    # A mapping merges into its section: alpha from the base survives, p is added.
    assert (stages[1].config.augment.elastic.p, stages[1].config.augment.elastic.alpha) == (
        0.5,
        50.0,
    )
    assert stages[1].config.training.lr == 1e-4
    last = stages[4]
    assert last.config.augment.elastic.p == 0.5 and last.config.training.lr == 0.002
    assert (last.tune, last.after_tune, last.ensemble_folds) == (
        True,
        {"inference.crf.enabled": True},
        3,
    )
    assert (stages[1].tune, stages[3].ensemble_folds) == (False, 1)
    assert [s.compare_to for s in stages] == [None, 0, 1, 2, 3]


def test_inference_only_stages_share_the_training_key(tmp_path: Path) -> None:
    path = write_ladder(
        tmp_path,
        [
            {"name": "a"},
            {"name": "b", "overrides": {"inference.tta": True, "evaluation.bootstrap": 5}},
            {"name": "c", "overrides": {"training.lr": 0.01}},
            {"name": "d", "ensemble_folds": 2},
        ],
    )
    a, b, c, d = load_ladder(path).stages
    assert a.training_key == b.training_key
    assert len({b.training_key, c.training_key, d.training_key}) == 3


def test_a_skipped_stage_is_not_passed_on(tmp_path: Path) -> None:
    path = write_ladder(
        tmp_path,
        [
            {"name": "basic"},
            {
                "name": "+ weights",
                "overrides": {"model.encoder_weights": "imagenet"},
                "requires": "pretrained_weights",
            },
            {"name": "+ tta", "overrides": {"inference.tta": True}},
        ],
    )
    seen = []

    def offline(requirement: str, config) -> str | None:
        seen.append((requirement, config.model.encoder_weights))
        return "no weights here" if config.model.encoder_weights else None

    basic, weights, tta = load_ladder(path, offline).stages
    assert weights.skipped == "no weights here"
    assert tta.skipped is None and tta.config.model.encoder_weights is None
    assert tta.compare_to == 0  # the gain is measured against the last measured stage
    assert seen == [("pretrained_weights", "imagenet")]  # only stages that require are checked
    assert basic.skipped is None


def test_leave_one_out_removes_one_trick_from_the_full_recipe(tmp_path: Path) -> None:
    path = write_ladder(
        tmp_path,
        [
            {
                "name": "full",
                "overrides": {"training.lr": 0.002, "model.encoder_weights": "imagenet"},
                "tune": True,
                "requires": ["pretrained_weights"],
            },
            {"name": "- lr", "overrides": {"training.lr": 0.0001}},
            {"name": "- weights", "overrides": {"model.encoder_weights": "none"}},
            {"name": "- tuning", "tune": False},
        ],
        mode="leave_one_out",
    )
    full, no_lr, no_weights, no_tuning = load_ladder(path).stages
    assert no_lr.config.training.lr == 1e-4 and no_lr.config.model.encoder_weights == "imagenet"
    assert (
        no_weights.config.training.lr == 0.002 and no_weights.config.model.encoder_weights is None
    )
    assert (no_lr.tune, no_tuning.tune) == (True, False)
    assert [s.compare_to for s in (full, no_lr, no_weights, no_tuning)] == [None, 0, 0, 0]

    offline = load_ladder(path, lambda r, c: "offline" if c.model.encoder_weights else None)
    skipped = [stage.skipped for stage in offline.stages]
    # Stages inherit the full recipe's requirement; only the one without weights can run.
    assert skipped == ["offline", "offline", None, "offline"]
    assert offline.stages[2].compare_to is None  # nothing to compare with


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"stages": [{"name": "a"}], "modes": "x"}, "unknown key 'modes'"),
        ({"stages": [{"name": "a"}], "mode": "random"}, "mode: 'random' is not one of"),
        ({"stages": []}, "stages: expected a non-empty list"),
        ({"stages": [{"name": "a", "tunes": True}]}, "stages[0] ('a'): unknown key 'tunes'"),
        (
            {"stages": [{"name": "a", "overrides": {"loss.termz": {"dice": 1}}}]},
            "stage 'a': loss.termz: unknown key",
        ),
        (
            {"stages": [{"name": "a", "overrides": {"training.lr": -1}}]},
            "stage 'a': training.lr:",
        ),
        ({"stages": [{"name": "a", "claim": [0.5, 0.2]}]}, "claim: expected [low, high]"),
        ({"stages": [{"name": "a", "claim": [0.1, 1.5]}]}, "claim: expected [low, high]"),
        (
            {"stages": [{"name": "a", "after_tune": {"inference.tta": True}, "tune": False}]},
            "after_tune needs tune: true",
        ),
        (
            {"stages": [{"name": "a", "tune": True, "after_tune": {"training.lr": 1}}]},
            "after_tune: training.lr: only inference.* keys",
        ),
        (
            {"stages": [{"name": "a", "tune": True, "after_tune": {"inference.tresh": 1}}]},
            "stage 'a' after_tune: inference.tresh: unknown key",
        ),
        ({"stages": [{"name": "a"}, {"name": "a"}]}, "stage name 'a' appears more than once"),
        (
            {"stages": [{"name": "a", "requires": "gpu"}]},
            "requires: 'gpu' is not one of pretrained_weights",
        ),
        ({"stages": [{"name": "a", "ensemble_folds": 0}]}, "ensemble_folds: expected"),
        ({"stages": [{"name": ""}]}, "stages[0]: name: expected a non-empty string"),
        (
            {"stages": [{"name": "a", "overrides": {"seed": 1, "seed.x": 1}}]},
            "seed.x: seed is not a section",
        ),
        ({"base": "missing.yaml", "stages": [{"name": "a"}]}, "missing.yaml: config file not"),
    ],
)
def test_bad_ladders_raise_one_line_naming_the_problem(
    tmp_path: Path, content: dict, message: str
) -> None:
    path = tmp_path / "ladder.yaml"
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(SparsegError) as error:
        load_ladder(path)
    text = str(error.value)
    assert message in text and "\n" not in text
    assert str(path) in text or "missing.yaml" in text


def test_shipped_ladders_resolve() -> None:
    seed = load_ladder(REPO / "configs/ladders/field-guide.yaml").stages
    assert [s.claim for s in seed if s.claim] == [
        (0.2, 0.3),
        (0.5, 0.7),
        (0.7, 0.85),
        (0.75, 0.88),
        (0.85, 0.92),
        (0.9, 0.95),
        (0.95, 0.97),
    ]
    by_name = {s.name: s for s in seed}
    assert by_name["+ aggressive augmentation"].config.augment.grid_distortion.p == 0.3
    assert by_name["+ Focal Tversky"].config.loss.terms == {
        "focal_tversky": 0.5,
        "dice": 0.3,
        "bce": 0.2,
    }
    crf, tta = by_name["+ CRF"], by_name["+ TTA + post-processing"]
    assert crf.training_key == tta.training_key == by_name["+ pre-trained encoder"].training_key
    assert (tta.after_tune, crf.after_tune) == (
        {"inference.crf.enabled": False},
        {"inference.crf.enabled": True},
    )
    assert crf.claim_gain == (0.01, 0.02)
    assert by_name["+ ensemble"].ensemble_folds == 3
    loo = load_ladder(REPO / "configs/ladders/leave-one-out.yaml").stages
    assert loo[0].config.augment.elastic.p == 0.5 and loo[0].tune
    assert all(stage.compare_to == 0 for stage in loo[1:])


def test_a_stage_with_base_restarts_from_that_preset(tmp_path: Path) -> None:
    (tmp_path / "other.yaml").write_text(yaml.safe_dump({"training": {"lr": 0.003}}))
    stages = [
        {"name": "basic", "overrides": {"augment.elastic": {"p": 0.5}}},
        {"name": "other", "base": "other.yaml", "tune": True},
        {"name": "+ grid", "overrides": {"augment.grid_distortion": {"p": 0.3}}},
    ]
    basic, other, grid = load_ladder(write_ladder(tmp_path, stages)).stages
    assert basic.config.augment.elastic.p == 0.5 and basic.config.model.encoder == "resnet18"
    # Nothing of the base or the stage above survives the restart; later stages build on it.
    assert other.config.augment.elastic.p == 0.0 and other.config.training.lr == 0.003
    assert other.config.model.encoder == load_config(None).model.encoder and other.tune
    assert grid.config.training.lr == 0.003 and grid.config.augment.grid_distortion.p == 0.3
    assert other.compare_to == 0 and grid.compare_to == 1
    with pytest.raises(SparsegError, match=r"stages\[1\] \('other'\): base: only cumulative"):
        load_ladder(write_ladder(tmp_path, stages, mode="leave_one_out"))


def test_a_restart_leaves_the_stage_above_s_tuning_ensemble_and_pretraining(
    tmp_path: Path,
) -> None:
    (tmp_path / "other.yaml").write_text(yaml.safe_dump({"training": {"lr": 0.003}}))
    stages = [
        {
            "name": "tuned",
            "tune": True,
            "after_tune": {"inference.crf.enabled": False},
            "ensemble_folds": 3,
            "pretrain": {"steps": 10},
        },
        {"name": "restarted", "base": "other.yaml"},
        {"name": "tuned again", "base": "other.yaml", "tune": True},
    ]
    tuned, restarted, again = load_ladder(write_ladder(tmp_path, stages)).stages
    assert tuned.tune and tuned.ensemble_folds == 3 and tuned.pretrain is not None
    assert not restarted.tune and restarted.after_tune == {}
    assert restarted.ensemble_folds == 1 and restarted.pretrain is None
    assert again.tune and again.after_tune == {}


def test_presets_ladder_is_the_three_presets() -> None:
    stages = load_ladder(REPO / "configs/ladders/presets.yaml").stages
    assert [stage.name for stage in stages] == ["basic", "budget", "recipe"]
    for stage, preset in zip(stages, ("basic", "budget", "recipe"), strict=True):
        expected = load_config(REPO / f"configs/{preset}.yaml").model_dump()
        if preset == "recipe":  # the one difference: measured offline, without ImageNet weights
            assert expected["model"]["encoder_weights"] == "imagenet"
            expected["model"]["encoder_weights"] = None
        assert stage.config.model_dump() == expected
    assert [stage.tune for stage in stages] == [False, True, True]
    goals = load_ladder(REPO / "configs/ladders/basic-vs-budget.yaml").stages
    assert [(s.name, s.config) for s in goals] == [(s.name, s.config) for s in stages[:2]]
    assert [s.tune for s in goals] == [False, False]  # budget.yaml leaves tuning off


def test_speed_ladders_set_each_speed_key_at_every_stage() -> None:
    speed = load_ladder(REPO / "configs/ladders/speed.yaml").stages
    before, cheaper, half, batch8 = (stage.config for stage in speed)
    assert (before.training.memory_format, before.data.cache) == ("contiguous", "none")
    assert before.model.decoder_channels is None and before.training.batch_size == 16
    assert (cheaper.training.memory_format, cheaper.training.val_every) == ("channels_last", "auto")
    assert half.model.decoder_channels == [128, 64, 32, 16, 8] and batch8.training.batch_size == 8
    old, now = (
        s.config for s in load_ladder(REPO / "configs/ladders/speed-before-after.yaml").stages
    )
    assert old.model.decoder_channels is None and old.data.cache == "none"
    for config in (before, old, now):  # the budget preset they measured, pinned in the ladders
        assert (config.model.encoder, config.training.optimizer) == ("resnet18", "adamw")
        assert (config.training.lr, config.training.grad_clip) == (2e-3, 1.0)
    assert now.model.decoder_channels == [128, 64, 32, 16, 8] and now.data.cache == "auto"


def test_apply_dotted_and_slugs() -> None:
    raw = {"a": {"b": {"c": 1, "d": 2}}}
    assert apply_dotted(raw, {"a.b": {"c": 5}, "a.e": [1]}, "x") == {
        "a": {"b": {"c": 5, "d": 2}, "e": [1]}
    }
    assert raw == {"a": {"b": {"c": 1, "d": 2}}}  # the input is not modified
    assert slugify(6, "+ TTA + post-processing") == "07-tta-post-processing"
    assert slugify(0, "±") == "01-stage"


def test_aspect_true_input_keeps_the_area_in_the_datas_aspect(tmp_path: Path) -> None:
    stages = [
        {"name": "square", "overrides": {"data.input_size": [128, 128]}},
        {"name": "+ aspect", "overrides": {"data.input_size": "aspect_true"}},
    ]
    path = write_ladder(tmp_path, stages)
    tall = load_ladder(path, aspect=lambda: 182 / 218).stages  # ms_lesjak_flair's W / H
    assert tall[1].config.data.input_size == (160, 128)
    wide = load_ladder(path, aspect=lambda: 256 / 192).stages
    assert wide[1].config.data.input_size == (96, 128)  # 12,288 px at 3:4, not squashed
    near_square = load_ladder(path, aspect=lambda: 534 / 512).stages  # usgra_nerve
    assert near_square[1].config.data.input_size == (128, 128)
    with pytest.raises(SparsegError, match="aspect_true needs a data set"):
        load_ladder(path)


BUDGET_LEVERS = {
    "resnet18, half decoder": lambda c: (
        c.model.encoder == "resnet18" and c.model.decoder_channels == [128, 64, 32, 16, 8]
    ),
    "AdamW, high LR, warm-up + cosine": lambda c: (
        (c.training.optimizer, c.training.lr, c.training.schedule) == ("adamw", 2e-3, "cosine")
        and c.training.warmup_fraction == 0.05
    ),
    "gradient clipping": lambda c: c.training.grad_clip == 1.0,
    "weight EMA": lambda c: c.training.ema.enabled,
    "presence head": lambda c: c.model.presence_head,
    "progressive resizing": lambda c: (
        c.training.progressive is not None
        and (c.training.progressive.start_scale, c.training.progressive.until_fraction)
        == (0.5, 0.3)
    ),
    "aspect-true input": lambda c: c.data.input_size == (160, 128),
    "checkpoints chosen at 5 thresholds": lambda c: (
        c.training.validation_thresholds == (0.5, 0.4, 0.3, 0.2, 0.1)
    ),
}


def lever_states(stage, tuned_lever: str = "tuned inference") -> dict[str, bool]:
    return {
        **{name: bool(on(stage.config)) for name, on in BUDGET_LEVERS.items()},
        tuned_lever: stage.tune,
    }


def test_budget_ladder_adds_one_lever_per_stage_from_basic() -> None:
    stages = load_ladder(REPO / "configs/ladders/budget.yaml", aspect=lambda: 182 / 218).stages
    basic = load_config(REPO / "configs/basic.yaml")
    first = stages[0].config
    assert first.model == basic.model and first.training.optimizer == basic.training.optimizer
    assert not any(lever_states(stages[0]).values())
    levers = list(lever_states(stages[0]))
    assert [stage.name for stage in stages[1:]] == [f"+ {lever}" for lever in levers]
    for index, stage in enumerate(stages[1:], start=1):
        on = [lever for lever, state in lever_states(stage).items() if state]
        assert on == levers[:index], stage.name  # its own lever added, the earlier ones kept
        assert stage.compare_to == index - 1


def test_budget_leave_one_out_removes_exactly_the_lever_it_names() -> None:
    path = REPO / "configs/ladders/budget-leave-one-out.yaml"
    full, *removed = load_ladder(path, aspect=lambda: 182 / 218).stages
    assert all(lever_states(full).values())
    budget = load_config(REPO / "configs/budget.yaml")
    assert full.config.training.max_minutes == budget.training.max_minutes
    assert [stage.name for stage in removed] == [f"− {lever}" for lever in lever_states(full)]
    for stage in removed:
        off = [lever for lever, state in lever_states(stage).items() if not state]
        assert off == [stage.name.removeprefix("− ")], stage.name
        assert stage.compare_to == 0


def test_presence_ladder_removes_only_the_head_from_all_levers() -> None:
    path = REPO / "configs/ladders/presence.yaml"
    full, without = load_ladder(path, aspect=lambda: 182 / 218).stages
    assert all(lever_states(full).values())
    off = [lever for lever, state in lever_states(without).items() if not state]
    assert off == ["presence head"] and without.tune and without.compare_to == 0
    head_off = full.config.model.model_copy(update={"presence_head": False})
    assert head_off == without.config.model
    for section in ("data", "training", "augment"):
        assert getattr(full.config, section) == getattr(without.config, section), section
