"""Training throughput by precision, the speed settings (cache on the device, channels_last)
with the GPU's utilisation, and 8-fold TTA sequential vs batched, on a CUDA GPU.
Not a test (needs a GPU): writes benchmarks/results/gpu_throughput.json, or --out FILE.

    python benchmarks/gpu_throughput.py [--size 256] [--batch 16] [--steps 40]

Each precision trains sparseg's own loop (basic preset, resnet34) on synthetic data for three
short epochs; the third epoch's seconds per step are reported (the first two pay cuDNN
autotuning and allocations).
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import torch

from sparseg.config import load_config
from sparseg.data.synthetic import synthesize
from sparseg.inference.tta import predict_probabilities
from sparseg.models import build_model
from sparseg.training import train

RESULTS = Path(__file__).parent / "results" / "gpu_throughput.json"
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")
SPEED_SETTINGS = {  # each on top of bf16-mixed, 4 loader workers
    "files every step, contiguous": ["data.cache=none", "training.memory_format=contiguous"],
    "cache on the GPU, contiguous": ["data.cache=auto", "training.memory_format=contiguous"],
    "cache on the GPU, channels_last": ["data.cache=auto", "training.memory_format=channels_last"],
}


class UtilisationSampler:
    """Mean GPU utilisation (%) from nvidia-smi, sampled every 0.2 s while in the block."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            answer = subprocess.run(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
            )
            if answer.returncode == 0 and answer.stdout.strip():
                self.samples.append(float(answer.stdout.split()[0]))
            self._stop.wait(0.2)

    def __enter__(self) -> UtilisationSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mean(self) -> float | None:
        return round(statistics.mean(self.samples), 1) if self.samples else None


def speed_setting(preset: Path, data: Path, run: Path, overrides: list[str], args) -> dict:
    """One budget-preset run per setting: its own cost accounting and the GPU's utilisation."""
    config = load_config(
        preset,
        [
            f"data.input_size=[{args.size}, {args.size}]",
            f"training.batch_size={args.batch}",
            "training.max_epochs=4",
            "training.max_minutes=null",
            "training.precision=bf16-mixed",
            "data.num_workers=4",
            *overrides,
        ],
    )
    with UtilisationSampler() as utilisation:
        summary = train(config, data, run, quiet=True)
    keep = ("steps", "wall_seconds", "step_share", "cache")
    return {
        **{key: summary[key] for key in keep},
        **{key: value for key, value in summary.items() if key.endswith("_seconds")},
        "images_per_second": round(summary["images_seen"] / summary["wall_seconds"], 1),
        "gpu_utilisation_percent": utilisation.mean,
    }


def train_step_seconds(preset: Path, data: Path, run: Path, precision: str, args) -> dict:
    config = load_config(
        preset,
        [
            f"data.input_size=[{args.size}, {args.size}]",
            f"training.batch_size={args.batch}",
            "training.max_epochs=3",
            f"training.steps_per_epoch={args.steps}",
            "training.patience=null",
            f"training.precision={precision}",
            "data.val_fraction=0.05",
            "data.test_fraction=0.05",
            "data.num_workers=4",
        ],
    )
    torch.cuda.reset_peak_memory_stats()
    train(config, data, run, quiet=True)
    with open(run / "metrics.csv") as stream:
        rows = list(csv.DictReader(stream))
    seconds = float(rows[2]["seconds"]) / (int(rows[2]["step"]) - int(rows[1]["step"]))
    return {
        "seconds_per_step": round(seconds, 4),
        "images_per_second": round(args.batch / seconds, 1),
        "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20),
        "final_train_loss": round(float(rows[2]["train_loss"]), 4),
    }


def tta_seconds(preset: Path, size: int, repeats: int = 20) -> dict:
    config = load_config(preset)
    model = build_model(config.model, in_channels=1).cuda().eval()
    image = torch.rand(1, 1, size, size, device="cuda")
    timings = {}
    for name, kwargs in {
        "plain": {"tta": False},
        "tta_sequential": {"tta": True, "batched": False},
        "tta_batched": {"tta": True, "batched": True},
    }.items():
        samples = []
        for index in range(repeats + 3):
            torch.cuda.synchronize()
            start = time.perf_counter()
            predict_probabilities(model, image, **kwargs)
            torch.cuda.synchronize()
            if index >= 3:
                samples.append(time.perf_counter() - start)
        timings[f"{name}_ms"] = round(1000 * statistics.median(samples), 2)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_throughput.py needs a CUDA GPU")
    preset = Path(__file__).parents[1] / "configs" / "basic.yaml"
    result = {
        "gpu": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cpu": platform.machine(),
        "encoder": "resnet34",
        "input": [args.size, args.size],
        "batch_size": args.batch,
        "train": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        n_images = round(1.3 * args.steps * args.batch)
        synthesize(work / "data", n=n_images, size=(args.size, args.size), fg=0.02, empty=0.2)
        for precision in PRECISIONS:
            timing = train_step_seconds(preset, work / "data", work / precision, precision, args)
            result["train"][precision] = timing
            print(precision, timing, flush=True)
        budget = Path(__file__).parents[1] / "configs" / "budget.yaml"
        result["speed_settings"] = {}
        for index, (name, overrides) in enumerate(SPEED_SETTINGS.items()):
            row = speed_setting(budget, work / "data", work / f"speed{index}", overrides, args)
            result["speed_settings"][name] = row
            print(name, row, flush=True)
    fp32 = result["train"]["32-true"]["seconds_per_step"]
    for precision in PRECISIONS[1:]:
        result["train"][precision]["speedup_over_fp32"] = round(
            fp32 / result["train"][precision]["seconds_per_step"], 2
        )
    result["inference_one_image"] = tta_seconds(preset, args.size)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
