"""Milliseconds per 16×1×128×128 batch for each augmentation (p=1) and the basic/recipe pipelines.

Run: ``.venv/bin/python benchmarks/augment_cost.py [--repeats 20] [--threads 1] [--device cpu]``;
writes ``benchmarks/results/augment_cost.json`` (another device: ``augment_cost_<device>.json``).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from sparseg.augment import GEOMETRIC, INTENSITY, build_augmentation
from sparseg.config import AugmentConfig, load_config
from sparseg.io_utils import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
BATCH_SHAPE = (16, 1, 128, 128)


def single_transform(name: str) -> AugmentConfig:
    """Only ``name`` at p=1 with the recipe's parameters (or ``multiscale`` enabled)."""
    recipe = load_config(ROOT / "configs" / "recipe.yaml").augment
    settings: dict[str, Any] = {key: {"p": 0.0} for key in [*GEOMETRIC, *INTENSITY]}
    if name == "multiscale":
        settings["multiscale"] = {**recipe.multiscale.model_dump(), "enabled": True}
    else:
        settings[name] = {**getattr(recipe, name).model_dump(), "p": 1.0}
    return AugmentConfig.model_validate(settings)


def milliseconds_per_batch(config: AugmentConfig, device: torch.device, repeats: int) -> float:
    aug = build_augmentation(config).to(device)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(BATCH_SHAPE, generator=generator).to(device)
    masks = (torch.rand(BATCH_SHAPE, generator=generator) > 0.97).float().to(device)
    torch.manual_seed(0)
    times = []
    for index in range(repeats + 2):
        start = time.perf_counter()
        aug(images, masks)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if index >= 2:  # the first calls pay for lazy initialisation
            times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    # On a shared 2-core machine two intra-op threads wait on each other whenever another process
    # holds a core (a flip took 36 ms instead of 2); one thread gives stable figures.
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)

    transforms = {
        name: milliseconds_per_batch(single_transform(name), device, args.repeats)
        for name in [*GEOMETRIC, *INTENSITY, "multiscale"]
    }
    pipelines = {
        preset: milliseconds_per_batch(
            load_config(ROOT / "configs" / f"{preset}.yaml").augment, device, args.repeats
        )
        for preset in ("basic", "recipe")
    }
    result = {
        "batch_shape": list(BATCH_SHAPE),
        "device": str(device),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "repeats": args.repeats,
        "statistic": "median ms per batch",
        "transforms_at_p1": transforms,
        "pipelines": pipelines,
    }
    out = args.out / (
        "augment_cost.json" if device.type == "cpu" else f"augment_cost_{device.type}.json"
    )
    atomic_write_json(out, result)
    for name, value in {**transforms, **pipelines}.items():
        print(f"{name:>20}  {value:8.2f} ms")
    print(f"written {out}")


if __name__ == "__main__":
    main()
