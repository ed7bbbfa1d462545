"""The training loop end to end on tiny synthetic data (64x64, resnet18, a few steps)."""

from __future__ import annotations

import csv
import json
import math
import shutil

import pytest
import torch

from sparseg.errors import SparsegError
from sparseg.training import loop, train
from tests.helpers import tiny_config


def read_csv(path):
    with open(path) as stream:
        return list(csv.DictReader(stream))


def test_run_directory_receives_every_file(synthetic_data, tmp_path) -> None:
    run = tmp_path / "run"
    summary = train(tiny_config(), synthetic_data, run, quiet=True)
    for name in ("config.yaml", "split.json", "best.ckpt", "last.ckpt", "metrics.csv"):
        assert (run / name).is_file(), name
    assert any((run / "tb").rglob("events.out.tfevents.*"))
    saved = json.loads((run / "train_summary.json").read_text())
    assert saved == json.loads(json.dumps(summary))
    assert saved["epochs"] == 2 and saved["stop_reason"] == "max_epochs"
    assert 0.0 <= saved["best_val_dice"] <= 1.0
    rows = read_csv(run / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert all(float(r["images_per_s"]) > 0 for r in rows)


def test_same_seed_gives_identical_metrics_on_cpu(synthetic_data, tmp_path) -> None:
    keys = ("best_val_dice", "final_train_loss", "steps", "best_epoch")
    first = train(tiny_config(), synthetic_data, tmp_path / "a", quiet=True)
    second = train(tiny_config(), synthetic_data, tmp_path / "b", quiet=True)
    assert {k: first[k] for k in keys} == {k: second[k] for k in keys}
    assert (
        read_csv(tmp_path / "a" / "metrics.csv")[-1]["train_loss"]
        == read_csv(tmp_path / "b" / "metrics.csv")[-1]["train_loss"]
    )


def test_resume_continues_to_the_same_result(synthetic_data, tmp_path) -> None:
    straight = train(
        tiny_config("training.max_epochs=3"), synthetic_data, tmp_path / "a", quiet=True
    )
    train(tiny_config("training.max_epochs=1"), synthetic_data, tmp_path / "b", quiet=True)
    resumed = train(
        tiny_config("training.max_epochs=3"),
        synthetic_data,
        tmp_path / "b",
        resume=True,
        quiet=True,
    )
    for key in ("best_val_dice", "final_train_loss", "steps", "images_seen"):
        assert resumed[key] == straight[key], key


def test_checkpoint_every_n_epochs_and_resume_replays_the_gap(
    synthetic_data, tmp_path, monkeypatch
) -> None:
    saved_at: list[int] = []
    save_last = loop.Trainer._save_last

    def spy(self) -> None:
        save_last(self)
        saved_at.append(self.state.epoch)
        if self.state.epoch == 2:
            shutil.copy(self.out_dir / "last.ckpt", tmp_path / "epoch2.ckpt")

    monkeypatch.setattr(loop.Trainer, "_save_last", spy)
    config = tiny_config("training.max_epochs=5", "training.checkpoint_every=2")
    straight = train(config, synthetic_data, tmp_path / "run", quiet=True)
    assert saved_at == [2, 4, 5]  # every second epoch, and always the last
    # A kill during epoch 4 leaves the epoch-2 checkpoint: resuming replays epochs 3 and 4.
    shutil.copy(tmp_path / "epoch2.ckpt", tmp_path / "run" / "last.ckpt")
    resumed = train(config, synthetic_data, tmp_path / "run", resume=True, quiet=True)
    for key in ("best_val_dice", "final_train_loss", "steps", "images_seen", "epochs"):
        assert resumed[key] == straight[key], key
    assert [int(r["epoch"]) for r in read_csv(tmp_path / "run" / "metrics.csv")] == [0, 1, 2, 3, 4]


def test_max_steps_accumulation_and_val_every(synthetic_data, tmp_path) -> None:
    config = tiny_config(
        "training.max_epochs=4",
        "training.accumulate_grad_batches=2",
        "training.val_every=2",
        "training.max_steps=5",
    )
    summary = train(config, synthetic_data, tmp_path / "run", quiet=True)
    assert summary["steps"] == 5 and summary["stop_reason"] == "max_steps"
    rows = read_csv(tmp_path / "run" / "metrics.csv")
    # 24 pairs -> 16 train images -> 4 batches -> 2 optimiser steps per epoch
    assert [int(r["step"]) for r in rows] == [2, 4, 5]
    assert math.isnan(float(rows[0]["val_dice"])) and not math.isnan(float(rows[1]["val_dice"]))


def test_early_stopping_and_time_budget(synthetic_data, tmp_path) -> None:
    # smp's zero-bias head marks about half of every image: a frozen network that is not blank
    frozen = tiny_config(
        "training.max_epochs=10",
        "training.patience=2",
        "training.lr=1e-12",
        "model.output_bias=zero",
    )
    summary = train(frozen, synthetic_data, tmp_path / "a", quiet=True)
    assert summary["stop_reason"] == "early_stopping"
    assert summary["epochs"] == summary["best_epoch"] + 1 + 2 < 10
    budget = tiny_config("training.max_epochs=50", "training.max_minutes=0.0001")
    summary = train(budget, synthetic_data, tmp_path / "b", quiet=True)
    assert summary["stop_reason"] == "max_minutes" and summary["steps"] == 1


def test_gradient_clipping_is_applied(synthetic_data, tmp_path, monkeypatch) -> None:
    norms = []
    original = loop.Fabric.clip_gradients

    def spy(self, module, optimizer, clip_val=None, max_norm=None, **kwargs):
        norms.append(max_norm)
        return original(self, module, optimizer, clip_val, max_norm, **kwargs)

    monkeypatch.setattr(loop.Fabric, "clip_gradients", spy)
    config = tiny_config("training.max_steps=2", "training.grad_clip=0.5")
    train(config, synthetic_data, tmp_path / "run", quiet=True)
    assert norms == [0.5, 0.5]


def test_non_finite_loss_stops_with_a_clear_message_or_is_skipped(
    synthetic_data, tmp_path, monkeypatch
) -> None:
    class NanLoss(torch.nn.Module):
        def forward(self, outputs, target):
            return torch.tensor(float("nan"), requires_grad=True)

    monkeypatch.setattr(loop, "build_loss", lambda *args, **kwargs: NanLoss())
    with pytest.raises(SparsegError, match="non-finite loss at epoch 0 batch 0"):
        train(tiny_config(), synthetic_data, tmp_path / "a", quiet=True)
    assert not (tmp_path / "a" / "best.ckpt").exists()
    summary = train(
        tiny_config("training.skip_nonfinite=true"), synthetic_data, tmp_path / "b", quiet=True
    )
    assert summary["steps"] == 0


def test_bad_runs_are_refused(synthetic_data, tmp_path) -> None:
    with pytest.raises(SparsegError, match="larger than the training split"):
        train(tiny_config("training.batch_size=64"), synthetic_data, tmp_path / "a", quiet=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(SparsegError, match="is a file"):
        train(tiny_config(), synthetic_data, tmp_path / "file", quiet=True)
    with pytest.raises(SparsegError, match=r"no last\.ckpt"):
        train(tiny_config(), synthetic_data, tmp_path / "b", resume=True, quiet=True)
    train(tiny_config("training.max_steps=1"), synthetic_data, tmp_path / "c", quiet=True)
    with pytest.raises(SparsegError, match="already holds a training run"):
        train(tiny_config(), synthetic_data, tmp_path / "c", quiet=True)


def test_patch_training_from_decoded_arrays_equals_reading_files(synthetic_data, tmp_path) -> None:
    settings = (
        "data.mode=patch",
        "data.input_size=[32, 32]",
        "data.foreground_oversample=0.5",
        "training.steps_per_epoch=3",
    )
    keys = ("best_val_dice", "final_train_loss", "steps", "images_seen")
    kept = train(
        tiny_config(*settings, "data.cache=ram"), synthetic_data, tmp_path / "a", quiet=True
    )
    read = train(
        tiny_config(*settings, "data.cache=none"), synthetic_data, tmp_path / "b", quiet=True
    )
    assert kept["steps"] == 6 and kept["images_seen"] == 24
    assert {k: kept[k] for k in keys} == {k: read[k] for k in keys}
    assert "cached in RAM" not in read["cache"] and kept["cache"] == "data.cache ram"


def test_summary_says_where_the_wall_clock_went(synthetic_data, tmp_path) -> None:
    summary = train(tiny_config(), synthetic_data, tmp_path / "run", quiet=True)
    parts = [f"{part}_seconds" for part in ("data", "augment", "step", "validation", "checkpoint")]
    assert all(summary[key] > 0 for key in parts), summary
    booked = sum(summary[key] for key in [*parts, "other_seconds"])
    assert booked == pytest.approx(summary["wall_seconds"], abs=0.05)
    assert 0 < summary["step_share"] < 1
    assert summary["step_share"] == pytest.approx(
        summary["step_seconds"] / summary["wall_seconds"], abs=0.01
    )
    assert summary["cache"].startswith("data.cache auto") and "cached in RAM" in summary["cache"]


def test_cache_on_and_off_train_the_same_model(synthetic_data, tmp_path) -> None:
    keys = ("best_val_dice", "final_train_loss", "steps", "images_seen")
    cached = train(tiny_config("data.cache=ram"), synthetic_data, tmp_path / "a", quiet=True)
    lazy = train(tiny_config("data.cache=none"), synthetic_data, tmp_path / "b", quiet=True)
    assert {k: cached[k] for k in keys} == {k: lazy[k] for k in keys}
    assert read_csv(tmp_path / "a" / "metrics.csv") != [] and [
        r["train_loss"] for r in read_csv(tmp_path / "a" / "metrics.csv")
    ] == [r["train_loss"] for r in read_csv(tmp_path / "b" / "metrics.csv")]


def test_auto_cache_falls_back_to_lazy_reads_under_a_tiny_memory_budget(
    synthetic_data, tmp_path, monkeypatch
) -> None:
    from sparseg.data import cache

    monkeypatch.setattr(cache, "available_memory_bytes", lambda: 4096)
    summary = train(tiny_config(), synthetic_data, tmp_path / "run", quiet=True)
    assert "too large, images decoded per step" in summary["cache"]
    assert summary["steps"] == 6  # 12 training images, batch 4, 2 epochs: training went on


@pytest.mark.parametrize("memory_format", ["channels_last", "contiguous"])
def test_multiscale_is_applied_once_and_the_network_trains_in_the_memory_format(
    synthetic_data, tmp_path, monkeypatch, memory_format
) -> None:
    seen: list[tuple[tuple[int, ...], bool]] = []
    original = loop.Trainer._build_model

    def record(module, inputs) -> None:
        if module.training:  # not validation
            weight = module.model.decoder.blocks[0].conv1[0].weight  # 1-channel input: both
            channels_last = weight.is_contiguous(memory_format=torch.channels_last)
            seen.append((tuple(inputs[0].shape), channels_last and not weight.is_contiguous()))

    def spy(self, *args) -> None:
        original(self, *args)
        self.model.register_forward_pre_hook(record)

    monkeypatch.setattr(loop.Trainer, "_build_model", spy)
    config = tiny_config(
        "training.max_steps=2",
        f"training.memory_format={memory_format}",
        "augment.multiscale.enabled=true",
        "augment.multiscale.scales=[0.5, 0.5]",
    )
    train(config, synthetic_data, tmp_path / "run", quiet=True)
    assert [shape for shape, _ in seen] == [(4, 1, 32, 32)] * 2  # twice would give 16x16
    assert all(layout == (memory_format == "channels_last") for _, layout in seen)


def test_budgeted_run_validates_on_its_cadence_and_checkpoints_by_time(
    synthetic_data, tmp_path, monkeypatch
) -> None:
    from sparseg.training import costs

    monkeypatch.setattr(costs, "VALIDATION_SHARE", 1e-9)  # any validation is too dear
    saved_at: list[int] = []
    save_last = loop.Trainer._save_last

    def spy(self) -> None:
        save_last(self)
        saved_at.append(self.state.epoch)

    monkeypatch.setattr(loop.Trainer, "_save_last", spy)
    config = tiny_config("training.max_epochs=4", "training.max_minutes=30")
    summary = train(config, synthetic_data, tmp_path / "run", quiet=True)
    rows = read_csv(tmp_path / "run" / "metrics.csv")
    validated = [int(r["epoch"]) for r in rows if not math.isnan(float(r["val_dice"]))]
    assert validated == [0, 3]  # the first, then the interval grows past the run; always the end
    assert saved_at == [4]  # 2 minutes never passed: only the final last.ckpt
    assert summary["epochs"] == 4


def record_training_inputs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """The shapes of the batches that reach the model in training, as they come."""
    seen: list[tuple[int, ...]] = []
    original = loop.Trainer._build_model

    def spy(self, *args) -> None:
        original(self, *args)
        self.model.register_forward_pre_hook(
            lambda module, inputs: seen.append(tuple(inputs[0].shape)) if module.training else None
        )

    monkeypatch.setattr(loop.Trainer, "_build_model", spy)
    return seen


@pytest.mark.parametrize("multiscale", [False, True])
def test_progressive_resizing_trains_small_first_then_at_full_size(
    synthetic_data, tmp_path, monkeypatch, multiscale
) -> None:
    seen = record_training_inputs(monkeypatch)
    config = tiny_config(
        "training.max_steps=4",
        "training.progressive={start_scale: 0.5, until_fraction: 0.5}",
        f"augment.multiscale.enabled={str(multiscale).lower()}",
        "augment.multiscale.scales=[2.0, 2.0]",
    )
    train(config, synthetic_data, tmp_path / "run", quiet=True)
    # steps 0 and 1 start below half the run's progress (0/4, 1/4): 64 x 0.5 = 32; then 64.
    # Multi-scale draws around the step's size, in the same one resize (x2: 64, then 128).
    factor = 2 if multiscale else 1
    small, full = 32 * factor, 64 * factor
    assert seen == [(4, 1, small, small)] * 2 + [(4, 1, full, full)] * 2


def test_a_non_square_data_set_trains_at_its_aspect_true_proposed_size(
    tmp_path, monkeypatch
) -> None:
    from sparseg.data.fingerprint import fingerprint
    from sparseg.data.plan import plan_overrides, propose_config
    from sparseg.data.synthetic import synthesize
    from sparseg.inference.predictor import Predictor

    data = tmp_path / "wide"
    synthesize(data, n=16, size=(192, 256), fg=0.04, empty=0.2, seed=0)
    proposed = plan_overrides(propose_config(fingerprint(data), cpu_only=True))["data"]
    height, width = proposed["input_size"]
    assert height != width and width / height == pytest.approx(256 / 192, rel=0.2)
    seen = record_training_inputs(monkeypatch)
    size = f"data.input_size=[{height}, {width}]"
    train(tiny_config("training.max_steps=2", size), data, tmp_path / "run", quiet=True)
    assert seen == [(4, 1, height, width)] * 2  # not squashed into a square
    predictor = Predictor([tmp_path / "run"])
    image = predictor.image(sorted((data / "images").glob("*.png"))[0])
    assert predictor.probabilities(image).shape == (192, 256)  # back at the native size
