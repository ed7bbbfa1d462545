"""Inference throughput on CPU: plain, 8x TTA batched vs sequential, ONNX Runtime vs PyTorch eager.

A resnet34 U-Net (random weights: speed does not depend on them) at 256² and 128², one image per
call. Times are medians over repeats (the machine is shared; medians resist the other users),
reported as images per second, with the load average before and after so the noise is visible.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/inference.py [--sizes 256 128] [--repeats 5]
        [--threads N]  # on a shared machine, 1 thread avoids OpenMP spin-wait collapse
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime
import segmentation_models_pytorch as smp
import torch

from sparseg.inference.onnx_export import export_onnx
from sparseg.inference.onnx_runtime import OnnxModel
from sparseg.inference.tta import predict_probabilities
from sparseg.io_utils import atomic_write_json

RESULTS = Path(__file__).parent / "results" / "inference.json"
ENCODER = "resnet34"


def median_seconds(call: Callable[[], object], repeats: int) -> float:
    call()  # warm-up: first-call allocations and kernel selection are not steady state
    durations = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        durations.append(time.perf_counter() - start)
    return statistics.median(durations)


def measure_size(
    model: torch.nn.Module, onnx_paths: dict[bool, Path], size: int, repeats: int
) -> dict[str, float]:
    image = torch.randn((1, 1, size, size), generator=torch.Generator().manual_seed(0))
    image_numpy = image.numpy()
    threads = torch.get_num_threads()
    plain_onnx = OnnxModel(onnx_paths[False], threads=threads)
    tta_onnx = OnnxModel(onnx_paths[True], threads=threads)
    calls = {
        "torch_plain": lambda: predict_probabilities(model, image, tta=False),
        "torch_tta_sequential": lambda: predict_probabilities(
            model, image, tta=True, batched=False
        ),
        "torch_tta_batched": lambda: predict_probabilities(model, image, tta=True, batched=True),
        "onnxruntime_plain": lambda: plain_onnx(image_numpy),
        "onnxruntime_tta": lambda: tta_onnx(image_numpy),
    }
    row: dict[str, float] = {}
    for name, call in calls.items():
        seconds = median_seconds(call, repeats)
        row[f"{name}_ms"] = round(seconds * 1000, 1)
        row[f"{name}_images_per_s"] = round(1.0 / seconds, 2)
        print(f"{size}²  {name:<22} {seconds * 1000:8.1f} ms  {1.0 / seconds:7.2f} img/s")
    row["tta_batched_over_sequential_speed"] = round(
        row["torch_tta_sequential_ms"] / row["torch_tta_batched_ms"], 2
    )
    row["onnxruntime_over_torch_speed"] = round(
        row["torch_plain_ms"] / row["onnxruntime_plain_ms"], 2
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 128])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--threads", type=int, help="intra-op threads for torch and onnxruntime (default: torch's)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    model = smp.Unet(ENCODER, encoder_weights=None, in_channels=1, classes=1).eval()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        onnx_paths = {tta: Path(folder) / f"model_tta_{tta}.onnx" for tta in (False, True)}
        export = {}
        for tta, path in onnx_paths.items():
            start = time.perf_counter()
            difference = export_onnx(model, path, in_channels=1, tta=tta)
            export[f"tta_{tta}".lower()] = {
                "seconds": round(time.perf_counter() - start, 1),
                "max_abs_difference_vs_torch": difference,
                "megabytes": round(path.stat().st_size / 2**20, 1),
            }
        sizes = {
            f"{size}x{size}": measure_size(model, onnx_paths, size, args.repeats)
            for size in args.sizes
        }

    payload = {
        "what": f"smp U-Net {ENCODER}, 1 channel, batch 1, CPU, median of {args.repeats} calls",
        "machine": {
            "cpu_count": os.cpu_count(),
            "threads_torch_and_onnxruntime": torch.get_num_threads(),
            "platform": platform.platform(),
            "load_average_1min_before_after": [
                round(load_before[0], 2),
                round(os.getloadavg()[0], 2),
            ],
        },
        "versions": {
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            "segmentation_models_pytorch": smp.__version__,
            "numpy": np.__version__,
        },
        "export": export,
        "sizes": sizes,
    }
    atomic_write_json(args.out, payload)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
