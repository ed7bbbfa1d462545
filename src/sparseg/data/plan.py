"""A proposed configuration planned from a fingerprint and the machine, as nnU-Net plans.

nnU-Net sizes its plans for a GPU; on a 2-core CPU it chose batch 66 at full resolution and
bought 12 iterations in 15 minutes (../shared/MEASURED.md). Here input size, batch and encoder
are chosen for the machine at hand, while the data decides how far images may shrink, the BCE
weight, the foreground oversampling, the smallest object worth keeping and the recipe.
"""

from __future__ import annotations

import math
import os
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from sparseg.config import Config, dump_config, read_yaml_mapping, validate_config
from sparseg.config.presets import preset_path
from sparseg.data.fingerprint import Fingerprint, VolumeStats
from sparseg.data.foreground import POS_WEIGHT_RANGE, pos_weight_from_counts

MIN_COMPONENT_PX = 16  # a typical smallest target of ~4x4 px still survives a U-Net's skips
SIZE_MULTIPLE = 32  # five stride-2 stages of the encoder
BASE_OVERSAMPLE = 0.33  # nnU-Net's foreground share of each batch
# Training memory of an smp U-Net (resnet18/34, fp32, forward + backward + AdamW) per input
# pixel per image, rounded up from the measurement in docs/evidence/speed.md.
TRAIN_BYTES_PER_PIXEL = 1200
CPU_FIXED_BYTES = 1.5e9  # torch + smp + model + optimizer state before the first batch
CPU_BATCH_PIXELS = 16 * 128 * 128
# device: (preferred input area in px, largest area trained whole before switching to patches)
MACHINES = {
    "cpu": (128 * 128, 256 * 256),  # 256² steps cost 2.5x those of 128² on 2 cores
    "gpu": (512 * 512, 1024 * 1024),
}


def propose_config(
    fp: Fingerprint, memory_gb: float | None = None, cpu_only: bool | None = None
) -> dict[str, Any]:
    """Config overrides in the shape of :class:`sparseg.config.Config` plus ``reasons``.

    ``cpu_only`` None: detect a CUDA GPU. ``memory_gb`` None: the GPU's memory, or the RAM
    available now on a CPU. The result minus ``reasons`` (see :func:`plan_overrides`) validates
    with :func:`sparseg.config.validate_config`.

    Example:
        >>> plan = propose_config(fingerprint(Path("data/usgra_nerve")), cpu_only=True)
        >>> plan["data"]["input_size"], plan["training"]["batch_size"]
        ([128, 128], 12)
    """
    cpu_only, memory_gb, machine_reason = detect_machine(memory_gb, cpu_only)
    reasons = [machine_reason]
    device = "cpu" if cpu_only else "gpu"
    mode, input_size, size_reasons = _input_size(fp, device)
    reasons += size_reasons
    recipe, recipe_reason = choose_recipe(mode)
    reasons.append(recipe_reason)
    area = input_size[0] * input_size[1]

    if cpu_only:
        encoder, why = "resnet18", "on a CPU a smaller encoder buys more steps in the same minutes"
    elif memory_gb < 8:
        encoder, why = "resnet18", f"{memory_gb:.0f} GB of GPU memory is tight for resnet34"
    else:
        encoder, why = "resnet34", f"{memory_gb:.0f} GB of GPU memory affords resnet34"
    reasons.append(f"encoder {encoder}: {why}")
    batch_size, batch_reason = batch_size_for(fp.n_pairs, area, device, memory_gb)
    reasons.append(batch_reason)

    plan: dict[str, Any] = {
        "data": {"mode": mode, "input_size": list(input_size)},
        "model": {"encoder": encoder},
        "loss": {},
        "training": {"batch_size": batch_size, "accelerator": "cpu" if cpu_only else "cuda"},
        "inference": {"postprocess": {}},
    }
    if fp.label is not None:
        plan["data"]["label"] = fp.label
    if not cpu_only:
        workers = max(0, min(8, (os.cpu_count() or 1) - 1))
        plan["data"]["num_workers"] = workers
        reasons.append(f"num_workers {workers}: keep the GPU fed from CPU cores")

    plan["data"]["foreground_oversample"], reason = _foreground_oversample(fp)
    reasons.append(reason)
    pos_weight, reason = _pos_weight(fp)
    if recipe == "nnunet2d":
        reason = "BCE unweighted: nnU-Net's cross-entropy weighs every pixel alike"
    elif pos_weight is not None:
        plan["loss"]["pos_weight"] = pos_weight
    reasons.append(reason)
    plan["inference"]["postprocess"]["min_object_size"], reason = _min_object_size(fp)
    reasons.append(reason)
    if fp.volumes is not None:
        plan["data"].update(_volume_slicing(fp.volumes, reasons))
        smallest = fp.volumes.lesion_voxels_p5 or 0
        plan["inference"]["postprocess"]["min_object_size_3d"] = int(smallest // 2)
        reasons.append(
            f"min_object_size_3d {int(smallest // 2)} voxels: half the 5th-percentile 3D lesion "
            f"({smallest:g} voxels); `sparseg tune` then keeps it only if it raises the pooled "
            "3D Dice of the validation volumes"
        )
    plan["recipe"] = recipe
    plan["reasons"] = reasons
    return plan


def choose_recipe(mode: str) -> tuple[str, str]:
    """The shipped preset a plan starts from, and why.

    Whole images that the machine can train on without shrinking the smallest targets under
    :data:`MIN_COMPONENT_PX` go to ``budget``, the recipe measured best at CPU budgets
    (benchmarks/results/budget_levers.md); images too large for that are trained as patches at
    native size with ``nnunet2d``, the recipe nnU-Net made for exactly that case.
    ``benchmarks/presets.py`` measures the two on the same data and budgets.
    """
    if mode == "patch":
        return "nnunet2d", (
            "recipe nnunet2d: patches at native resolution, as nnU-Net trains images too large "
            "to train whole (SGD + poly, Dice + CE, instance norm, deep supervision)"
        )
    return "budget", (
        "recipe budget: whole images at the planned size keep the smallest targets above the "
        "floor; budget.yaml is the recipe measured best at CPU budgets (the nnunet2d recipe is "
        "for patches of images too large to train whole)"
    )


def compose_config(plan: dict[str, Any]) -> Config:
    """The whole configuration a plan proposes: its recipe preset with the plan's overrides."""
    raw = read_yaml_mapping(preset_path(plan["recipe"]))
    for section, values in plan_overrides(plan).items():
        if isinstance(values, dict):
            raw[section] = _merged(raw.get(section) or {}, values)
    return validate_config(raw, f"proposed configuration (recipe {plan['recipe']})")


def proposed_config_text(plan: dict[str, Any], data: Path) -> str:
    """:func:`compose_config` as YAML for ``train --config``, headed by the plan's reasons."""
    header = [f"# Proposed by `sparseg inspect {data}` on {date.today().isoformat()}."]
    header += [f"# - {reason}" for reason in plan["reasons"]]
    return "\n".join(header) + "\n" + dump_config(compose_config(plan))


def _merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def _volume_slicing(volumes: VolumeStats, reasons: list[str]) -> dict[str, Any]:
    """Slice axis and kept slices for volume data, with the 3D lesion sizes they rest on."""
    axis = int(max(volumes.slice_axis.items(), key=lambda item: item[1])[0])
    spacing = " x ".join(f"{side:g}" for side in volumes.spacing_mm)
    coarsest = max(volumes.spacing_mm) > min(volumes.spacing_mm) * 1.001
    why = "the lowest-resolution axis" if coarsest else "isotropic voxels: the last axis"
    reasons.append(f"slice_axis {axis}: {why} (median spacing {spacing} mm)")
    reasons.append(
        f"keep_slices nonzero: blank slices outside the body teach nothing and cost steps; "
        f"lesion-free slices inside it stay ({volumes.empty_slice_share:.0%} of the kept ones) "
        "so the model learns to predict nothing"
    )
    ml = volumes.lesion_volume_ml
    if ml is not None:
        reasons.append(
            f"lesions in 3D: {volumes.lesions_per_volume.mean:.1f} per volume, median "
            f"{ml.median:.3f} mL (evaluate reports lesion-wise F1 on these 26-connected "
            "components)"
        )
    return {"slice_axis": axis, "keep_slices": "nonzero"}


def plan_overrides(plan: dict[str, Any]) -> dict[str, Any]:
    """The config sections of a plan, without its ``reasons``, ``recipe`` and ``pretraining``
    (the split of the minutes that :mod:`sparseg.data.pretrain_budget` proposes)."""
    notes = ("reasons", "recipe", "pretraining")
    return {key: value for key, value in plan.items() if key not in notes}


def detect_machine(memory_gb: float | None, cpu_only: bool | None) -> tuple[bool, float, str]:
    """(CPU only, GB of memory the plan may use, one-line description); None: detect."""
    if cpu_only is None or (not cpu_only and memory_gb is None):
        import torch  # deferred: an explicit CPU plan must not pay torch's import time and RAM

        if cpu_only is None:
            cpu_only = not torch.cuda.is_available()
        if not cpu_only and memory_gb is None:
            if not torch.cuda.is_available():
                return False, 16.0, "machine: GPU requested but none visible; assumed 16 GB"
            memory_gb = torch.cuda.get_device_properties(0).total_memory / 1e9
    if memory_gb is None:
        import psutil

        memory_gb = psutil.virtual_memory().available / 1e9
    if cpu_only:
        return True, float(memory_gb), f"machine: CPU, {memory_gb:.1f} GB RAM available"
    return False, float(memory_gb), f"machine: GPU, {memory_gb:.1f} GB GPU memory"


def _input_size(fp: Fingerprint, device: str) -> tuple[str, tuple[int, int], list[str]]:
    """Resize toward the machine's preferred area, never so far that the typical smallest
    component falls under MIN_COMPONENT_PX; patches at native size when that is too large."""
    height = fp.image_size.height.median
    width = fp.image_size.width.median
    native_area = height * width
    preferred_area, largest_area = MACHINES[device]
    smallest = fp.components.smallest_per_mask_fraction
    needed_area = MIN_COMPONENT_PX / smallest if smallest else 0.0
    area = min(max(preferred_area, needed_area), native_area)
    reasons = []
    if area > largest_area:
        side = int(math.sqrt(preferred_area))
        patch = (
            max(SIZE_MULTIPLE, min(side, _floor_multiple(height))),
            max(SIZE_MULTIPLE, min(side, _floor_multiple(width))),
        )
        reasons.append(
            f"patch mode {patch[0]}x{patch[1]} at native size: keeping the median smallest "
            f"component at {MIN_COMPONENT_PX} px needs {needed_area:,.0f} px per image, more "
            f"than a {device.upper()} trains on whole ({largest_area:,} px)"
        )
        return "patch", patch, reasons
    floor_binds = preferred_area < needed_area < native_area
    size = _nearest_shape(area, width / height, at_least=needed_area if floor_binds else 0.0)
    if area >= native_area and needed_area >= native_area:
        why = "native size kept, smaller would push the smallest targets under the floor"
    elif area >= native_area:
        why = f"native size kept, already within the {device.upper()}-sized area"
    elif needed_area > preferred_area:
        why = f"above the {device.upper()}-sized {preferred_area:,} px to keep small targets"
    else:
        why = f"{device.upper()}-sized area {preferred_area:,} px"
    if smallest:
        why += (
            f"; median smallest component {smallest * size[0] * size[1]:.0f} px "
            f"(floor {MIN_COMPONENT_PX} px)"
        )
    reasons.append(
        f"resize {height:g}x{width:g} (median HxW) to {size[0]}x{size[1]} "
        f"(x{math.sqrt(size[0] * size[1] / native_area):.2f}, aspect kept, multiples of "
        f"{SIZE_MULTIPLE}): {why}"
    )
    return "resize", size, reasons


def input_area_floor(fp: Fingerprint) -> float:
    """Pixels per image below which the median smallest component falls under
    MIN_COMPONENT_PX (0 when the masks have no components)."""
    smallest = fp.components.smallest_per_mask_fraction
    return MIN_COMPONENT_PX / smallest if smallest else 0.0


def aspect_true_sizes(fp: Fingerprint, areas: list[float]) -> list[tuple[int, int]]:
    """Input sizes near each of ``areas`` (capped at the native size) with the median image's
    aspect, multiples of 32, none under :func:`input_area_floor`; ascending, without repeats."""
    height = fp.image_size.height.median
    width = fp.image_size.width.median
    floor = min(input_area_floor(fp), height * width)
    sizes = {
        _nearest_shape(min(area, height * width), width / height, at_least=floor) for area in areas
    }
    return sorted(sizes, key=lambda size: (size[0] * size[1], size))


def aspect_true_size(area: float, aspect: float) -> tuple[int, int]:
    """(height, width) in multiples of 32 closest to ``area`` pixels at ``aspect`` (W/H)."""
    return _nearest_shape(area, aspect)


def _floor_multiple(value: float) -> int:
    return int(value // SIZE_MULTIPLE) * SIZE_MULTIPLE


def _nearest_shape(area: float, aspect: float, at_least: float = 0.0) -> tuple[int, int]:
    """Multiples of SIZE_MULTIPLE closest to ``area`` and ``aspect`` (W/H) on a log scale, with
    aspect errors weighing double (they distort every target); no smaller than ``at_least``."""
    best, best_cost = (SIZE_MULTIPLE, SIZE_MULTIPLE), math.inf
    for height in range(SIZE_MULTIPLE, 8192 + 1, SIZE_MULTIPLE):
        width = max(SIZE_MULTIPLE, round(height * aspect / SIZE_MULTIPLE) * SIZE_MULTIPLE)
        cost = abs(math.log(height * width / area)) + 2 * abs(math.log(width / height / aspect))
        if height * width >= at_least and cost < best_cost:
            best, best_cost = (height, width), cost
    return best


def batch_size_for(n_pairs: int, area: int, device: str, memory_gb: float) -> tuple[int, str]:
    """The batch for ``area`` input pixels on ``device`` ("cpu"/"gpu"), and why."""
    per_image = area * TRAIN_BYTES_PER_PIXEL
    if device == "cpu":
        # 16 at 128²: batch 8 buys steps, not Dice, at equal minutes (docs/evidence/speed.md)
        wanted = int(np.clip(round(CPU_BATCH_PIXELS / area), 4, 16))
        fits = int((0.5 * memory_gb * 1e9 - CPU_FIXED_BYTES) // per_image)
        why = "16 images of 128² per CPU step (half that bought steps, not Dice)"
    else:
        wanted = 32
        fits = int(0.6 * memory_gb * 1e9 // per_image)
        why = f"60 % of {memory_gb:.0f} GB at ~{per_image / 1e6:.0f} MB per image"
    dataset_cap = max(2, round(0.05 * n_pairs))  # nnU-Net: one batch ≤ 5 % of the data set
    batch = max(2, min(wanted, fits, dataset_cap))
    return batch, (
        f"batch {batch}: {why}; memory fits {max(fits, 0)}, 5 % of the data set is {dataset_cap}"
    )


def _foreground_oversample(fp: Fingerprint) -> tuple[float, str]:
    """nnU-Net's 0.33, raised when random crops would mostly miss the target."""
    empty_share = fp.empty_masks.share
    non_empty = fp.foreground_fraction.non_empty
    tiny = non_empty is not None and non_empty.median < 0.01
    share = BASE_OVERSAMPLE + 0.5 * empty_share + (0.15 if tiny else 0.0)
    share = round(float(np.clip(share, BASE_OVERSAMPLE, 0.9)), 2)
    return share, (
        f"foreground_oversample {share}: {BASE_OVERSAMPLE} (nnU-Net) + half the empty share "
        f"({empty_share:.0%})" + (" + 0.15 for targets under 1 % of the image" if tiny else "")
    )


def _pos_weight(fp: Fingerprint) -> tuple[float | None, str]:
    pooled = fp.foreground_fraction.pooled
    weight = pos_weight_from_counts(pooled, 1.0)
    if weight is None:
        return None, "pos_weight left unset: no mask has foreground"
    return weight, (
        f"BCE pos_weight {weight:g}: background:foreground pixel ratio {(1 - pooled) / pooled:.1f} "
        f"clipped to [{POS_WEIGHT_RANGE[0]:g}, {POS_WEIGHT_RANGE[1]:g}] (beyond ~100 the rare "
        "pixels dominate the gradient and flood the background with false positives; Dice "
        "covers the rest of the imbalance)"
    )


def _min_object_size(fp: Fingerprint) -> tuple[int, str]:
    area = fp.components.area_px
    if area is None:
        return 0, "min_object_size 0: no training components to size it from"
    size = int(0.5 * area.p5)
    return size, (
        f"min_object_size {size} px: half the 5th-percentile training component "
        f"({area.p5:g} px), in native pixels since post-processing runs after the resize back"
    )
