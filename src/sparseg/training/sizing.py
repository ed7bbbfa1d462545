"""A run sized for its minutes: time a few (encoder, input size, batch) settings on this machine
for a few seconds each and choose the one that buys enough optimiser steps.

nnU-Net plans from GPU memory and gave a 2-core CPU user 12 iterations in 15 minutes
(../shared/MEASURED.md); here the plan comes from the minutes the user has. :func:`choose` is a
pure function of the timings, so the choice is testable with injected timings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from sparseg.config import Config, load_config
from sparseg.data.fingerprint import Fingerprint
from sparseg.data.plan import aspect_true_sizes, batch_size_for, detect_machine
from sparseg.losses import build_loss
from sparseg.models import build_model
from sparseg.training.setup import build_optimizer

# A round count past where 15-minute CPU trainings from scratch were still climbing
# (docs/evidence/quality.md)
ENOUGH_STEPS = 1000
EXPECTED_STEP_SHARE = 0.85  # data, augmentation, validation and checkpoints take the rest
AREA_FACTORS = (0.5, 0.75, 1.0, 1.5, 2.0)  # candidate input areas around the proposal's
CANDIDATE_ENCODERS = ("resnet18", "resnet34")  # capacity order: smaller first
TIMING_SECONDS = 3.0
PLANNED_DECODER = [
    128,
    64,
    32,
    16,
    8,
]  # half smp's widths: see benchmarks/results/train_settings.md
TIMED_SETTINGS = [  # the budget preset's network and optimiser
    "model.decoder_channels=[128, 64, 32, 16, 8]",
    "training.optimizer=adamw",
    "training.memory_format=channels_last",
]


@dataclass(frozen=True)
class Candidate:
    encoder: str
    input_size: tuple[int, int]
    batch_size: int

    @property
    def area(self) -> int:
        return self.input_size[0] * self.input_size[1]

    def describe(self) -> str:
        return (
            f"{self.encoder} at {self.input_size[0]}x{self.input_size[1]}, batch {self.batch_size}"
        )


@dataclass(frozen=True)
class Timed:
    candidate: Candidate
    step_seconds: float

    def steps_in(self, minutes: float) -> int:
        return int(minutes * 60 * EXPECTED_STEP_SHARE / self.step_seconds)


def candidates(
    fp: Fingerprint, mode: str, proposed: tuple[int, int], device: str, memory_gb: float
) -> list[Candidate]:
    """Every encoder at aspect-true input sizes around the ``proposed`` one, none under the
    small-object floor (patch mode: the proposed patch only), each with the batch that
    :func:`sparseg.data.plan.batch_size_for` gives its size."""
    area = proposed[0] * proposed[1]
    sizes = (
        [tuple(proposed)]
        if mode == "patch"
        else aspect_true_sizes(fp, [factor * area for factor in AREA_FACTORS])
    )
    found = []
    for height, width in sizes:
        batch, _ = batch_size_for(fp.n_pairs, height * width, device, memory_gb)
        found += [Candidate(encoder, (height, width), batch) for encoder in CANDIDATE_ENCODERS]
    return found


def choose(timed: list[Timed], minutes: float, proposed_area: int) -> tuple[Timed, list[str]]:
    """The rule, in order: a size above the proposal's only with steps to spare (2 x
    :data:`ENOUGH_STEPS`; the largest such); else the proposal's size if it makes enough; else
    the largest smaller size that does; else the fastest setting. At the chosen size the larger
    encoder only with steps to spare, else the faster one. Returns the choice and one line per
    setting, the choice first."""

    def steps(t: Timed) -> int:
        return t.steps_in(minutes)

    larger = [t for t in timed if t.candidate.area > proposed_area and steps(t) >= 2 * ENOUGH_STEPS]
    at_most = [t for t in timed if t.candidate.area <= proposed_area and steps(t) >= ENOUGH_STEPS]
    if larger:
        pool, rule = larger, f"a larger input still makes 2 x {ENOUGH_STEPS:,} steps"
    elif at_most:
        pool, rule = at_most, f"the largest input up to the proposal's with {ENOUGH_STEPS:,} steps"
    else:
        pool, rule = [], f"no setting makes {ENOUGH_STEPS:,} steps: the fastest"
    if pool:
        area = max(t.candidate.area for t in pool)
        same_size = [t for t in pool if t.candidate.area == area]
        spare = [t for t in same_size if steps(t) >= 2 * ENOUGH_STEPS]
        rank = CANDIDATE_ENCODERS.index
        chosen = (
            max(spare, key=lambda t: rank(t.candidate.encoder))
            if spare
            else max(same_size, key=steps)
        )
    else:
        chosen = max(timed, key=steps)
    lines = [f"{_line(chosen, minutes)} — chosen: {rule} in {minutes:g} min"]
    lines += [_line(t, minutes) for t in timed if t is not chosen]
    return chosen, lines


def _line(timed: Timed, minutes: float) -> str:
    return (
        f"{timed.candidate.describe()}: {timed.step_seconds:.2f} s/step → "
        f"{timed.steps_in(minutes):,} steps in {minutes:g} min"
    )


def time_step(candidate: Candidate, config: Config, in_channels: int) -> float:
    """Mean seconds of one training step (forward, loss, backward, optimiser) on random data on
    ``config``'s device, after one warm-up step, over about :data:`TIMING_SECONDS`."""
    cfg = config.model_copy(deep=True)
    cfg.model.encoder = candidate.encoder
    device = torch.device("cuda" if cfg.training.accelerator == "cuda" else "cpu")
    layout = (
        torch.channels_last
        if cfg.training.memory_format == "channels_last"
        else torch.contiguous_format
    )
    model = build_model(cfg.model, in_channels).to(device, memory_format=layout)
    loss_fn = build_loss(cfg.loss, None, None).to(device)
    optimizer = build_optimizer(cfg, list(model.parameters()))
    generator = torch.Generator().manual_seed(0)
    shape = (candidate.batch_size, in_channels, *candidate.input_size)
    images = torch.randn(shape, generator=generator).to(device, memory_format=layout)
    masks = (torch.rand((shape[0], 1, *shape[2:]), generator=generator) > 0.97).float()
    masks = masks.to(device)
    model.train()

    def step() -> None:
        loss = loss_fn(model(images), masks)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    step()
    times: list[float] = []
    while not times or (sum(times) < TIMING_SECONDS and len(times) < 20):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return sum(times) / len(times)


def plan_for_minutes(
    fp: Fingerprint,
    plan: dict[str, Any],
    minutes: float,
    timer: Callable[[Candidate, Config, int], float] | None = None,
    memory_gb: float | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Config overrides for ``plan`` (from :func:`sparseg.data.plan.propose_config`) sized for
    ``minutes`` on this machine, and one reason line per timed setting; ``timer`` is
    injectable for tests."""
    accelerator = plan["training"]["accelerator"]
    cpu_only, memory_gb, _ = detect_machine(memory_gb, accelerator == "cpu")
    settings = [*TIMED_SETTINGS, f"training.accelerator={accelerator}"]
    config = load_config(None, settings)
    in_channels = 3 if fp.channels.get("3", 0) > fp.channels.get("1", 0) else 1
    timer = timer or time_step
    mode, size = plan["data"]["mode"], tuple(plan["data"]["input_size"])
    device = "cpu" if cpu_only else "gpu"
    timed = [
        Timed(found, timer(found, config, in_channels))
        for found in candidates(fp, mode, size, device, memory_gb)
    ]
    chosen, lines = choose(timed, minutes, size[0] * size[1])
    overrides = {
        "data": {"input_size": list(chosen.candidate.input_size)},
        "model": {"encoder": chosen.candidate.encoder, "decoder_channels": PLANNED_DECODER},
        "training": {"batch_size": chosen.candidate.batch_size, "max_minutes": minutes},
    }
    return overrides, lines


def apply_sizing(fp: Fingerprint, plan: dict[str, Any], minutes: float) -> dict[str, Any]:
    """``plan`` with :func:`plan_for_minutes`'s overrides merged in and its lines appended to
    the reasons (the size, batch and encoder reasons they replace are dropped)."""
    overrides, lines = plan_for_minutes(fp, plan, minutes)
    sized = {key: dict(value) if isinstance(value, dict) else value for key, value in plan.items()}
    for section, values in overrides.items():
        sized[section] = {**sized.get(section, {}), **values}
    replaced = ("resize ", "encoder ", "batch ")
    kept = [reason for reason in plan["reasons"] if not reason.startswith(replaced)]
    sized["reasons"] = [*kept, *(f"timed: {line}" for line in lines)]
    return sized
