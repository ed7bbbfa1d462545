"""Bad (and unusual but valid) data set folders through the real CLI: one clear line, exit 2,
no traceback, nothing in the data folder touched; valid oddities must simply work."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from tests.reliability.support import FIRST_ID, assert_one_line_error, snapshot


def image_path(data: Path, image_id: str = FIRST_ID) -> Path:
    return data / "images" / f"{image_id}.png"


def mask_path(data: Path, image_id: str = FIRST_ID) -> Path:
    return data / "masks" / f"{image_id}.png"


def inspect_fails(run_cli, data: Path, *fragments: str) -> str:
    """``sparseg inspect`` refuses ``data`` with one line and leaves every file as it was."""
    before = snapshot(data)
    line = assert_one_line_error(run_cli("inspect", data), *fragments)
    assert snapshot(data) == before
    return line


def inspect_json(run_cli, data: Path, tmp_path: Path) -> dict:
    out = tmp_path / "fingerprint.json"
    result = run_cli("inspect", data, "--json", out)
    assert result.code == 0, result.stderr
    return json.loads(out.read_text())["fingerprint"]


def convert(path: Path, suffix: str) -> Path:
    """Rewrite an 8-bit PNG as ``suffix`` (JPEG or TIFF) and remove the PNG."""
    target = path.with_suffix(suffix)
    pixels = np.asarray(Image.open(path))
    if suffix == ".tif":
        tifffile.imwrite(target, pixels)
    else:
        Image.fromarray(pixels).save(target, quality=95)
    path.unlink()
    return target


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# ---------------------------------------------------------------- pairs
def test_image_without_mask(run_cli, dataset):
    mask_path(dataset).unlink()
    inspect_fails(run_cli, dataset, f"{image_path(dataset)}: image without a mask")


def test_mask_without_image(run_cli, dataset):
    image_path(dataset).unlink()
    inspect_fails(run_cli, dataset, f"{mask_path(dataset)}: mask without an image")


def test_mask_size_differs_from_image(run_cli, dataset):
    Image.fromarray(np.zeros((60, 64), np.uint8)).save(mask_path(dataset))
    inspect_fails(run_cli, dataset, f"{mask_path(dataset)}: mask is 60x64 (HxW)", "is 64x64")


def test_duplicate_ids_with_different_extensions(run_cli, dataset):
    tifffile.imwrite(image_path(dataset).with_suffix(".tif"), np.zeros((64, 64), np.uint8))
    inspect_fails(run_cli, dataset, f"duplicate id '{FIRST_ID}'", "keep one file per id")


def test_empty_images_folder(run_cli, dataset):
    for path in (dataset / "images").iterdir():
        path.unlink()
    inspect_fails(run_cli, dataset, f"{dataset / 'images'}: no images found")


def test_missing_data_folder(run_cli, tmp_path):
    assert_one_line_error(run_cli("inspect", tmp_path / "nope"), "nope: data folder not found")


# ---------------------------------------------------------------- damaged files
def test_corrupt_png(run_cli, dataset):
    image_path(dataset).write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 2)
    inspect_fails(run_cli, dataset, f"{image_path(dataset)}: not a recognised .png image file")


def test_truncated_png(run_cli, dataset):
    truncate(image_path(dataset))
    inspect_fails(run_cli, dataset, f"{image_path(dataset)}: cannot read image", "truncated")


def test_truncated_jpeg(run_cli, dataset):
    jpeg = convert(image_path(dataset), ".jpg")
    truncate(jpeg)
    inspect_fails(run_cli, dataset, f"{jpeg}: cannot read image", "truncated")


def test_truncated_tiff(run_cli, dataset):
    tiff = convert(image_path(dataset), ".tif")
    truncate(tiff)
    inspect_fails(run_cli, dataset, f"{tiff}: cannot read image")


def test_tiff_with_damaged_tags_warns_in_one_line(run_cli, dataset):
    """tifffile logs one line per bad tag (here 239) and still decodes the pixels."""
    tiff = convert(image_path(dataset), ".tif")
    damaged = bytearray(tiff.read_bytes())
    damaged[8] = 0xFF  # the first IFD's entry count: hundreds of garbage tags
    tiff.write_bytes(bytes(damaged))
    result = run_cli("inspect", dataset)
    assert result.code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert 1 <= len(lines) <= 3, result.stderr
    for line in lines:
        assert line.startswith(f"warning: {tiff}: read, but the decoder complained (")
        assert line.endswith("more); the file may be damaged")


def test_zero_byte_mask(run_cli, dataset):
    mask_path(dataset).write_bytes(b"")
    inspect_fails(run_cli, dataset, f"{mask_path(dataset)}: empty file (0 bytes)")


def test_mask_with_three_values(run_cli, dataset):
    labels = np.zeros((64, 64), np.uint8)
    labels[:8], labels[20:28] = 1, 2
    Image.fromarray(labels).save(mask_path(dataset))
    inspect_fails(
        run_cli, dataset, f"{mask_path(dataset)}: mask has 3 distinct values", "--label N"
    )


def test_symlink_loop(run_cli, dataset):
    loop = dataset / "images" / "loop.png"
    loop.symlink_to(loop)
    inspect_fails(run_cli, dataset, f"{loop}: symbolic link loop")


def test_broken_symlink(run_cli, dataset, tmp_path):
    image = image_path(dataset)
    image.unlink()
    image.symlink_to(tmp_path / "moved_away.png")
    inspect_fails(run_cli, dataset, f"{image}: broken symbolic link")


def test_unreadable_file(run_cli, dataset, monkeypatch):
    """chmod 000 does not stop root, so as root the denial is simulated at the open call."""
    mask = mask_path(dataset)
    mask.chmod(0)
    if os.geteuid() == 0:
        real_open = Image.open

        def deny(path, *args, **kwargs):
            if Path(path) == mask:
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(Image, "open", deny)
    try:
        assert_one_line_error(run_cli("inspect", dataset), f"{mask}: permission denied")
    finally:
        mask.chmod(0o644)


# ---------------------------------------------------------------- unusual but valid
def test_16_bit_image_works(run_cli, dataset, tmp_path):
    pixels = np.asarray(Image.open(image_path(dataset))).astype(np.uint16) * 257
    Image.fromarray(pixels).save(image_path(dataset))
    fingerprint = inspect_json(run_cli, dataset, tmp_path)
    assert fingerprint["bit_depth"] == {"8": 23, "16": 1}


def test_rgba_image_works(run_cli, dataset, tmp_path):
    gray = np.asarray(Image.open(image_path(dataset)))
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 128)])
    Image.fromarray(rgba, "RGBA").save(image_path(dataset))
    fingerprint = inspect_json(run_cli, dataset, tmp_path)
    assert fingerprint["channels"] == {"1": 23, "3": 1}


def test_mask_all_255_is_all_foreground(run_cli, dataset, tmp_path):
    Image.fromarray(np.full((64, 64), 255, np.uint8)).save(mask_path(dataset))
    fingerprint = inspect_json(run_cli, dataset, tmp_path)
    assert fingerprint["foreground_fraction"]["all"]["max"] == 1.0


def test_non_image_files_warn_and_work(run_cli, dataset):
    (dataset / "images" / "notes.txt").write_text("scanner settings")
    (dataset / "masks" / "Thumbs.db").write_bytes(b"\0\1")
    (dataset / "masks" / f"._{FIRST_ID}.png").write_bytes(b"macOS resource fork")
    result = run_cli("inspect", dataset)
    assert result.code == 0, result.stderr
    assert f"warning: {dataset / 'images'}: skipped 1 non-image entry (notes.txt)" in result.stderr
    assert f"warning: {dataset / 'masks'}: skipped 2 non-image entries" in result.stderr
    assert "pairs" in result.stdout


def test_unicode_and_spaces_in_names_work(run_cli, dataset, tmp_path):
    name = "nœud à gauche 1"
    image_path(dataset).rename(image_path(dataset, name))
    mask_path(dataset).rename(mask_path(dataset, name))
    split_file = tmp_path / "split.json"
    result = run_cli("split", dataset, "--out", split_file, "--folds", "2")
    assert result.code == 0, result.stderr
    split = json.loads(split_file.read_text(encoding="utf-8"))
    assert name in split["test"] + split["folds"][0]["train"] + split["folds"][0]["val"]


@pytest.mark.parametrize("suffix", [".jpg", ".tif"])
def test_jpeg_and_tiff_images_work(run_cli, dataset, tmp_path, suffix):
    convert(image_path(dataset), suffix)
    assert inspect_json(run_cli, dataset, tmp_path)["n_pairs"] == 24
