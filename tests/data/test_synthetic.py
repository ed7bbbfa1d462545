"""The synthetic ultrasound generator: determinism, exact empty count, foreground fraction,
learnable-but-not-trivial targets, the preview grid."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from sparseg.data.synthetic import render_preview, synthesize
from sparseg.errors import SparsegError


def _read(root: Path, folder: str, sample_id: str) -> np.ndarray:
    return np.asarray(Image.open(root / folder / f"{sample_id}.png"))


def _all_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def test_same_seed_writes_the_same_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    arguments = {"n": 6, "size": (48, 64), "fg": 0.03, "empty": 0.3}
    first = synthesize(tmp_path / "a", seed=3, **arguments)
    second = synthesize(tmp_path / "b", seed=3, **arguments)
    synthesize(tmp_path / "c", seed=4, **arguments)
    assert first == second
    assert _all_bytes(tmp_path / "a") == _all_bytes(tmp_path / "b")
    assert _all_bytes(tmp_path / "a") != _all_bytes(tmp_path / "c")


def test_files_ids_and_source_note(tmp_path: Path) -> None:
    ids = synthesize(tmp_path, n=12, size=(40, 56), fg=0.03, empty=0.25, seed=0)
    assert len(ids) == 12
    assert all(re.fullmatch(r"subj\d{2}_\d{4}", sample_id) for sample_id in ids)
    assert {sample_id[:6] for sample_id in ids[:10]} == {"subj00"}
    assert ids[10].startswith("subj01_")
    for sample_id in ids:
        image, mask = _read(tmp_path, "images", sample_id), _read(tmp_path, "masks", sample_id)
        assert image.shape == mask.shape == (40, 56)
        assert image.dtype == mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 255}
    note = (tmp_path / "SOURCE.md").read_text()
    assert "40 x 56" in note and "0.03" in note and "(3 with empty masks" in note


@pytest.mark.parametrize(("n", "empty"), [(40, 0.3), (25, 0.5), (7, 0.0)])
def test_exact_empty_count_and_mean_foreground_fraction(
    tmp_path: Path, n: int, empty: float
) -> None:
    ids = synthesize(tmp_path, n=n, size=(64, 64), fg=0.02, empty=empty, seed=1)
    fractions = np.array([(_read(tmp_path, "masks", i) > 0).mean() for i in ids])
    assert (fractions == 0).sum() == round(n * empty)
    assert fractions[fractions > 0].mean() == pytest.approx(0.02, abs=0.0005)
    assert fractions[fractions > 0].std() > 0.002  # sizes vary between images


def test_targets_stand_out_from_their_surroundings_but_no_threshold_finds_them(
    tmp_path: Path,
) -> None:
    ids = synthesize(tmp_path, n=30, size=(96, 96), fg=0.02, empty=0.0, seed=2)
    images = np.stack([_read(tmp_path, "images", i).astype(float) for i in ids])
    masks = np.stack([_read(tmp_path, "masks", i) > 0 for i in ids])
    contrasts = []
    for image, mask in zip(images, masks, strict=True):
        ring = ndimage.binary_dilation(mask, iterations=4) & ~mask
        contrasts.append(abs(image[mask].mean() - image[ring].mean()) / image[ring].std())
    assert np.median(contrasts) > 0.3  # learnable: the mean differs by a fair share of an SD
    best_dice = max(
        2 * (guess & masks).sum() / (guess.sum() + masks.sum())
        for level in range(0, 256, 8)
        for guess in (images > level, images < level)
    )
    assert best_dice < 0.3  # not trivial: speckle and tissue defeat a global threshold


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"n": 0}, "--n 0"),
        ({"fg": 0.0}, "--fg 0.0"),
        ({"fg": 0.6}, "--fg 0.6"),
        ({"empty": 1.5}, "--empty 1.5"),
        ({"size": (8, 64)}, "--size"),
    ],
)
def test_bad_arguments_are_one_line_errors(tmp_path: Path, arguments: dict, message: str) -> None:
    with pytest.raises(SparsegError, match=re.escape(message)):
        synthesize(tmp_path, **arguments)
    assert not (tmp_path / "images").exists()


def test_render_preview_writes_a_png_grid(tmp_path: Path) -> None:
    synthesize(tmp_path / "data", n=5, size=(32, 32), fg=0.05, empty=0.2, seed=0)
    out = render_preview(tmp_path / "data", tmp_path / "preview" / "grid.png", n=4)
    with Image.open(out) as grid:
        assert grid.format == "PNG"
        assert grid.width > 200 and grid.height > 200
