"""``sparseg pretrain`` at toy size: its weights load into ``train``, the loss falls, resume is
exact, volumes and loops are read as slices and frames, and bad folders get one error line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from sparseg.data.pretrain_items import pretrain_sources
from sparseg.data.volumes import Slicing
from sparseg.errors import SparsegError
from sparseg.models import build_model, plain_model
from sparseg.training import pretrain as pretrain_module
from sparseg.training import train
from sparseg.training.pretrain import pretrain
from tests.helpers import TINY_OVERRIDES, tiny_config, write_nifti_cases

SMALL = ("training.batch_size=8", "data.input_size=[32, 32]", "training.checkpoint_every=2")


def weights_of(path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_weights_load_into_train(synthetic_data, tmp_path) -> None:
    weights = tmp_path / "net.pth"
    summary = pretrain(tiny_config(), weights, synthetic_data, steps=2, quiet=True)
    assert summary["steps"] == 2 and summary["images"] == 24
    saved = weights_of(weights)
    assert {name.split(".")[0] for name in saved} == {"encoder", "decoder"}

    config = tiny_config(f"model.pretrained_weights={weights}")
    net = plain_model(build_model(config.model, 1))
    for name, tensor in net.state_dict().items():
        if name.split(".")[0] in ("encoder", "decoder"):
            assert torch.equal(tensor, saved[name]), name
    run = train(
        tiny_config(f"model.pretrained_weights={weights}", "training.max_steps=1"),
        synthetic_data,
        tmp_path / "run",
        quiet=True,
    )
    assert run["steps"] == 1

    encoder_config = tiny_config(f"model.encoder_weights={weights}").model
    encoder_only = plain_model(build_model(encoder_config, 1))
    first = "encoder.conv1.weight"
    assert torch.equal(encoder_only.state_dict()[first], saved[first])


@pytest.mark.parametrize("objective", ["restoration", "masked"])
def test_loss_falls_on_a_toy_set(synthetic_data, tmp_path, objective) -> None:
    config = tiny_config(f"pretrain.objective={objective}", *SMALL)
    summary = pretrain(config, tmp_path / "w.pth", synthetic_data, steps=12, quiet=True)
    losses = summary["loss_per_epoch"]
    assert len(losses) == 4
    assert summary["final_loss"] == losses[-1] < 0.8 * losses[0]
    saved = json.loads((tmp_path / "w.json").read_text())
    assert saved["steps"] == 12 and saved["images"] == 24 and saved["minutes"] > 0


def test_resume_is_exact(synthetic_data, tmp_path, monkeypatch) -> None:
    config = tiny_config(*SMALL)
    straight = tmp_path / "straight.pth"
    pretrain(config, straight, synthetic_data, steps=9, quiet=True)

    resumed = tmp_path / "resumed.pth"
    original = pretrain_module.Pretrainer._epoch

    def killed_after_two_epochs(self, progress) -> None:
        if self.state.epoch == 2:
            raise KeyboardInterrupt
        original(self, progress)

    monkeypatch.setattr(pretrain_module.Pretrainer, "_epoch", killed_after_two_epochs)
    with pytest.raises(KeyboardInterrupt):
        pretrain(config, resumed, synthetic_data, steps=9, quiet=True)
    assert not resumed.exists() and resumed.with_suffix(".ckpt").is_file()
    monkeypatch.setattr(pretrain_module.Pretrainer, "_epoch", original)
    with pytest.raises(SparsegError, match="pass --resume"):
        pretrain(config, resumed, synthetic_data, steps=9, quiet=True)
    summary = pretrain(config, resumed, synthetic_data, steps=9, resume=True, quiet=True)

    assert summary["steps"] == 9 and summary["epochs"] == 3
    expected, got = weights_of(straight), weights_of(resumed)
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[name], got[name]) for name in expected)
    assert (
        summary["loss_per_epoch"]
        == json.loads(straight.with_suffix(".json").read_text())["loss_per_epoch"]
    )

    again = pretrain(config, straight, synthetic_data, steps=9, resume=True, quiet=True)
    assert again["steps"] == 9 and again["loss_per_epoch"] == summary["loss_per_epoch"]
    assert all(torch.equal(expected[name], weights_of(straight)[name]) for name in expected)


def test_resume_without_a_checkpoint_starts_afresh(synthetic_data, tmp_path) -> None:
    summary = pretrain(tiny_config(), tmp_path / "w.pth", synthetic_data, steps=1, resume=True)
    assert summary["steps"] == 1 and (tmp_path / "w.ckpt").is_file()


def test_volumes_and_loops_are_read_as_slices_and_frames(tmp_path) -> None:
    volumes = write_nifti_cases(tmp_path / "mri", cases=("a", "b"), shape=(32, 32, 6))
    loops = tmp_path / "loops"
    loops.mkdir()
    frames = np.random.default_rng(0).integers(0, 255, (5, 40, 48), dtype=np.uint8)
    tifffile.imwrite(loops / "loop01.tif", frames)
    sources = pretrain_sources(None, [volumes / "imagesTr", loops], Slicing())
    slices = sources[volumes / "imagesTr"]
    assert len(slices) == 10  # 6 slices per volume, the all-zero first one left out
    assert {item.case for item in slices} == {"a", "b"}
    assert [item.id for item in sources[loops]] == [f"loop01_f{i:03d}" for i in range(5)]

    out = tmp_path / "w.pth"
    summary = pretrain(tiny_config(), out, None, [volumes / "imagesTr", loops], steps=2, quiet=True)
    assert summary["images"] == 15 and summary["cases"] == 3
    assert summary["sources"] == {str(volumes / "imagesTr"): 10, str(loops): 5}


def test_a_split_leaves_the_test_cases_out(tmp_path) -> None:
    root = write_nifti_cases(tmp_path / "mri", cases=("a", "b", "c"), shape=(32, 32, 6))
    labelled = pretrain_sources(root, [], Slicing())[root]
    ids = sorted(item.id for item in labelled)
    split = tmp_path / "split.json"
    b_slices = [i for i in ids if i.startswith("b_")]
    rest = [i for i in ids if not i.startswith("b_")]
    split.write_text(json.dumps({"train": rest[:-1], "val": rest[-1:], "test": b_slices[:1]}))
    kept = pretrain_sources(root, [], Slicing(), split)[root]
    assert {item.case for item in kept} == {"a", "c"}
    assert all(item.mask is None for item in kept)


def test_a_folder_without_images_is_one_error_line(tmp_path, run_cli) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no pixels here")
    result = run_cli(
        "pretrain", "--images", empty, "--out", tmp_path / "w.pth", "--steps", "1", "--quiet"
    )
    assert result.code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no images found" in errors[0] and str(empty) in errors[0]
    assert not (tmp_path / "w.pth").exists()


def test_mixed_channel_counts_are_one_error_line(tmp_path, run_cli) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(folder / "gray.png")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(folder / "rgb.png")
    result = run_cli(
        "pretrain", "--images", folder, "--out", tmp_path / "w.pth", "--steps", "1", "--quiet"
    )
    assert result.code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {folder / 'rgb.png'}: 3 channel(s), but {folder / 'gray.png'} has 1; one "
        "network reads one channel count (convert the images, or pretrain on each kind apart)"
    ]


def test_a_budget_is_required(synthetic_data, tmp_path) -> None:
    with pytest.raises(SparsegError, match="give a budget"):
        pretrain(tiny_config(), tmp_path / "w.pth", synthetic_data)


@pytest.mark.slow
def test_two_process_cpu_pretraining(synthetic_data, tmp_path) -> None:
    out = tmp_path / "w.pth"
    command = [sys.executable, "-m", "sparseg", "pretrain", "--data", str(synthetic_data)]
    command += ["--out", str(out), "--steps", "4", "--devices", "2", "--quiet"]
    for override in TINY_OVERRIDES:
        command += ["--set", override]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(out.with_suffix(".json").read_text())
    # 24 images, batch 4 per process: 3 steps per epoch on each rank, 8 images a step
    assert summary["world_size"] == 2 and summary["steps"] == 4 and summary["epochs"] == 2
    assert summary["images_seen"] == 32
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.ckpt", "w.json", "w.pth"]


def test_the_command_shows_progress_and_says_what_it_wrote(synthetic_data, tmp_path, run_cli):
    out = tmp_path / "w.pth"
    sets = [arg for override in TINY_OVERRIDES for arg in ("--set", override)]
    result = run_cli("pretrain", "--data", synthetic_data, "--out", out, "--steps", "2", *sets)
    assert result.code == 0, result.stderr
    assert "2 steps in" in result.stderr and "loss" in result.stderr
    assert "val Dice" not in result.stderr  # nothing is validated
    assert result.stdout.startswith(f"wrote {out}: 24 images, 2 steps")
