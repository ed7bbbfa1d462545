"""The proposed configuration: valid against the schema and sized for data and machine."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from sparseg.config import validate_config
from sparseg.data.fingerprint import (
    AreaStats,
    Components,
    ComponentsPerMask,
    EmptyMasks,
    Fingerprint,
    ForegroundFractions,
    FractionStats,
    ImageSizes,
    Intensity,
    MinMedianMax,
    fingerprint,
)
from sparseg.data.plan import plan_overrides, propose_config
from sparseg.errors import SparsegWarning


def make_fp(
    height: int = 256,
    width: int = 256,
    n_pairs: int = 2000,
    pooled: float = 0.01,
    empty_share: float = 0.0,
    non_empty_median: float | None = 0.02,
    smallest: float | None = 0.005,
    area_p5: float | None = 100.0,
    label: int | None = None,
) -> Fingerprint:
    """A whole fingerprint of ``n_pairs`` 8-bit gray ``height`` x ``width`` 2D images: the
    arguments set the fields the planner reads; every other field follows from them (one
    component per non-empty mask) or is a plausible default."""
    n_empty = round(empty_share * n_pairs)
    n_masked = n_pairs - n_empty if non_empty_median is not None else 0
    non_empty = (
        None
        if non_empty_median is None
        else FractionStats(
            mean=non_empty_median,
            median=non_empty_median,
            p5=non_empty_median / 4,
            p95=non_empty_median * 3,
            min=non_empty_median / 10,
            max=non_empty_median * 5,
        )
    )
    area_px = (
        None if area_p5 is None else AreaStats(median=4 * area_p5, p5=area_p5, min=area_p5 / 2)
    )
    image_px = height * width
    return Fingerprint(
        n_pairs=n_pairs,
        label=label,
        image_size=ImageSizes(
            counts={f"{height}x{width}": n_pairs},
            height=MinMedianMax(min=height, median=float(height), max=height),
            width=MinMedianMax(min=width, median=float(width), max=width),
        ),
        channels={"1": n_pairs},
        bit_depth={"8": n_pairs},
        intensity=Intensity(mean=0.3, std=0.2, p1=0.0, p5=0.02, p50=0.28, p95=0.7, p99=0.9),
        foreground_fraction=ForegroundFractions(
            all=FractionStats(
                mean=pooled,
                median=0.0 if non_empty is None else non_empty.median,
                p5=0.0,
                p95=0.0 if non_empty is None else non_empty.p95,
                min=0.0,
                max=0.0 if non_empty is None else non_empty.max,
            ),
            non_empty=non_empty,
            pooled=pooled,
        ),
        empty_masks=EmptyMasks(
            count=n_empty,
            share=empty_share,
            ids=tuple(f"empty{index:04d}" for index in range(min(n_empty, 20))),
        ),
        components=Components(
            per_mask=ComponentsPerMask(mean=n_masked / n_pairs, max=1 if n_masked else 0),
            total=n_masked,
            area_px=area_px,
            area_fraction=(
                None
                if area_px is None
                else AreaStats(
                    median=area_px.median / image_px,
                    p5=area_px.p5 / image_px,
                    min=area_px.min / image_px,
                )
            ),
            smallest_per_mask_fraction=smallest,
        ),
        volumes=None,
    )


def cpu(fp: Fingerprint) -> dict[str, Any]:
    return propose_config(fp, memory_gb=16, cpu_only=True)


def gpu(fp: Fingerprint, memory_gb: float = 80) -> dict[str, Any]:
    return propose_config(fp, memory_gb=memory_gb, cpu_only=False)


@pytest.mark.parametrize(
    "fp",
    [make_fp(), make_fp(pooled=0.0, non_empty_median=None, smallest=None, area_p5=None, label=3)],
)
def test_plans_validate_against_the_config_schema(fp: Fingerprint) -> None:
    for plan in (cpu(fp), gpu(fp), gpu(fp, memory_gb=4)):
        config = validate_config(plan_overrides(plan))
        assert config.data.input_size == tuple(plan["data"]["input_size"])
        assert "reasons" not in plan_overrides(plan)
        assert plan["reasons"] and all("\n" not in reason for reason in plan["reasons"])


def test_a_real_fingerprint_plans_and_validates(synthetic_data: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SparsegWarning)
        fp = fingerprint(synthetic_data)
    plan = propose_config(fp, memory_gb=8)
    config = validate_config(plan_overrides(plan))
    assert config.data.input_size == (64, 64)  # 64x64 images are kept whole
    import torch

    assert config.training.accelerator == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize(
    ("pooled", "expected"), [(0.001, 100.0), (1 / 32, 31.0), (0.5, 1.0), (0.7, 1.0)]
)
def test_pos_weight_is_the_clipped_background_to_foreground_ratio(
    pooled: float, expected: float
) -> None:
    assert cpu(make_fp(pooled=pooled))["loss"]["pos_weight"] == expected


def test_no_foreground_leaves_pos_weight_unset_and_keeps_every_object() -> None:
    plan = cpu(make_fp(pooled=0.0, non_empty_median=None, smallest=None, area_p5=None))
    assert "pos_weight" not in plan["loss"]
    assert plan["inference"]["postprocess"]["min_object_size"] == 0


def test_cpu_gets_a_smaller_encoder_input_and_batch_than_a_large_gpu() -> None:
    fp = make_fp(height=512, width=512)
    on_cpu, on_gpu = cpu(fp), gpu(fp)
    assert on_cpu["model"]["encoder"] == "resnet18"
    assert on_gpu["model"]["encoder"] == "resnet34"
    assert gpu(fp, memory_gb=4)["model"]["encoder"] == "resnet18"
    assert on_cpu["data"]["input_size"] == [128, 128]
    assert on_gpu["data"]["input_size"] == [512, 512]
    assert on_cpu["training"]["batch_size"] == 16
    assert on_gpu["training"]["batch_size"] == 32
    assert on_cpu["training"]["accelerator"] == "cpu"
    assert on_gpu["training"]["accelerator"] == "cuda"


def test_batch_respects_memory_and_data_set_size() -> None:
    fp = make_fp(height=512, width=512)
    # 4 GB GPU: 0.6 * 4e9 / (512 * 512 * 1200 B) = 7.6 images
    assert gpu(fp, memory_gb=4)["training"]["batch_size"] == 7
    # 100 pairs: one batch holds at most 5 % of them
    assert gpu(make_fp(n_pairs=100))["training"]["batch_size"] == 5
    assert cpu(make_fp(n_pairs=10))["training"]["batch_size"] == 2


@pytest.mark.parametrize(
    ("height", "width", "expected"),
    [(192, 256, [96, 128]), (512, 534, [128, 128]), (100, 60, [96, 64]), (218, 182, [160, 128])],
)
def test_input_size_keeps_aspect_in_multiples_of_32(
    height: int, width: int, expected: list[int]
) -> None:
    plan = cpu(make_fp(height=height, width=width, smallest=0.01))
    assert plan["data"]["mode"] == "resize"
    assert plan["data"]["input_size"] == expected


def test_tiny_components_stop_the_downscaling_at_16_pixels() -> None:
    # smallest component 16 px at 200x200 of a 400x400 image: 224x224 keeps it above 16 px
    plan = cpu(make_fp(height=400, width=400, smallest=16 / 40_000))
    assert plan["data"]["input_size"] == [224, 224]
    # even smaller targets: the native size is kept
    plan = cpu(make_fp(height=200, width=160, smallest=2 / 32_000))
    assert plan["data"]["input_size"] == [192, 160]


def test_large_images_with_tiny_targets_train_on_patches_on_cpu_only() -> None:
    fp = make_fp(height=2048, width=2048, smallest=16 / 1_000_000)
    on_cpu = cpu(fp)
    assert on_cpu["data"]["mode"] == "patch"
    assert on_cpu["data"]["input_size"] == [128, 128]
    on_gpu = gpu(fp)
    assert on_gpu["data"]["mode"] == "resize"
    assert on_gpu["data"]["input_size"] == [1024, 1024]


def test_foreground_oversampling_grows_with_empty_images_and_tiny_targets() -> None:
    assert cpu(make_fp(empty_share=0.0))["data"]["foreground_oversample"] == 0.33
    assert cpu(make_fp(empty_share=0.4))["data"]["foreground_oversample"] == 0.53
    tiny = make_fp(empty_share=0.4, non_empty_median=0.005)
    assert cpu(tiny)["data"]["foreground_oversample"] == 0.68
    assert cpu(make_fp(empty_share=1.0, non_empty_median=0.001))["data"][
        "foreground_oversample"
    ] == pytest.approx(0.9)


def test_min_object_size_is_half_the_fifth_percentile_component() -> None:
    assert cpu(make_fp(area_p5=43.8))["inference"]["postprocess"]["min_object_size"] == 21
    assert cpu(make_fp(area_p5=1.0))["inference"]["postprocess"]["min_object_size"] == 0


def test_label_is_carried_into_the_data_section() -> None:
    assert cpu(make_fp(label=2))["data"]["label"] == 2
    assert "label" not in cpu(make_fp())["data"]


def test_whole_images_get_the_budget_recipe_and_native_patches_nnunets() -> None:
    whole = cpu(make_fp())
    patches = cpu(make_fp(height=2048, width=2048, smallest=16 / 1_000_000))
    assert whole["recipe"] == "budget" and patches["recipe"] == "nnunet2d"
    assert any(reason.startswith("recipe budget: ") for reason in whole["reasons"])
    assert any(reason.startswith("recipe nnunet2d: ") for reason in patches["reasons"])
    assert "pos_weight" not in patches["loss"]  # nnU-Net's cross-entropy is unweighted


def test_the_composed_configuration_is_the_recipe_with_the_plan_applied() -> None:
    from sparseg.config import load_config
    from sparseg.data.plan import compose_config

    plan = cpu(make_fp(height=2048, width=2048, smallest=16 / 1_000_000))
    composed = compose_config(plan)
    recipe = load_config("nnunet2d")
    assert composed.data.mode == "patch" and list(composed.data.input_size) == [128, 128]
    assert composed.training.batch_size == plan["training"]["batch_size"]
    assert composed.model.encoder == plan["model"]["encoder"]
    assert (composed.training.optimizer, composed.model.norm) == ("sgd", "instance")
    assert composed.augment == recipe.augment and composed.loss == recipe.loss


@pytest.mark.filterwarnings("ignore:.*stayed blank")  # two steps teach it nothing yet
def test_write_config_round_trips_through_train(run_cli, synthetic_data, tmp_path) -> None:
    from sparseg.config import load_config
    from sparseg.training import train

    proposed = tmp_path / "proposed.yaml"
    result = run_cli("inspect", synthetic_data, "--write-config", proposed)
    assert result.code == 0, result.stderr
    text = proposed.read_text()
    assert text.startswith("# Proposed by `sparseg inspect") and "# - recipe budget: " in text
    config = load_config(proposed)
    assert config == load_config(proposed, [])  # complete and valid as written
    assert config.training.optimizer == "adamw" and config.training.schedule == "cosine"
    quick = ["training.max_steps=2", "training.max_minutes=null", "training.max_epochs=1"]
    summary = train(load_config(proposed, quick), synthetic_data, tmp_path / "run", quiet=True)
    assert summary["steps"] == 2
