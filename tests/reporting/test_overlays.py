"""Choosing best and worst cases and drawing image / ground truth / prediction panels."""

from __future__ import annotations

import io

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from sparseg.data.discovery import Item
from sparseg.errors import SparsegError
from sparseg.inference.mask_files import prediction_file
from sparseg.reporting.overlays import (
    ALPHA,
    MAX_SIDE,
    Case,
    case_panels,
    display_rgb,
    load_case_panels,
    pick_cases,
    png_bytes,
    read_case_dice,
    tint,
)


def test_read_case_dice_leaves_out_images_without_a_dice(tmp_path) -> None:
    path = tmp_path / "metrics_per_image.csv"
    path.write_text("id,tp,dice\na,1,0.5\nboth_empty,0,\nc,0,0.0\n")
    assert read_case_dice(path) == [Case("a", 0.5), Case("c", 0.0)]


def test_read_case_dice_errors_name_the_file(tmp_path) -> None:
    path = tmp_path / "metrics_per_image.csv"
    path.write_text("id,tp\na,1\n")
    with pytest.raises(SparsegError, match=r"metrics_per_image\.csv: expected the columns id and"):
        read_case_dice(path)
    path.write_text("id,dice\na,high\n")
    with pytest.raises(SparsegError, match="line 2, dice: 'high' is not a number"):
        read_case_dice(path)


def test_pick_cases_best_first_worst_first_ties_by_id() -> None:
    dice = {"a": 0.9, "b": 0.1, "c": 0.5, "d": 0.9, "e": 0.0, "f": 0.3, "g": 0.7, "h": 0.1}
    best, worst = pick_cases([Case(i, d) for i, d in dice.items()], n=3)
    assert [case.id for case in best] == ["a", "d", "g"]
    assert [case.id for case in worst] == ["e", "b", "h"]


@pytest.mark.parametrize(
    ("n_cases", "n_best", "n_worst"), [(0, 0, 0), (1, 1, 0), (3, 2, 1), (5, 3, 2), (9, 3, 3)]
)
def test_pick_cases_never_shows_an_image_twice(n_cases, n_best, n_worst) -> None:
    cases = [Case(f"id{i}", i / 10) for i in range(n_cases)]
    best, worst = pick_cases(cases, n=3)
    assert (len(best), len(worst)) == (n_best, n_worst)
    assert not {case.id for case in best} & {case.id for case in worst}


def test_tint_blends_only_where_asked() -> None:
    rgb = np.full((2, 2, 3), 0.2, dtype=np.float32)
    where = np.array([[True, False], [False, False]])
    out = tint(rgb, where, (1.0, 0.0, 0.5))
    assert ALPHA == 0.5
    np.testing.assert_allclose(out[0, 0], [0.6, 0.1, 0.35])
    np.testing.assert_allclose(out[1, 1], [0.2, 0.2, 0.2])
    np.testing.assert_allclose(rgb[0, 0], [0.2, 0.2, 0.2])  # input untouched


def test_display_rgb_stretches_a_dark_16_bit_scan() -> None:
    image = np.zeros((10, 20, 1), dtype=np.uint16)
    image[:5] = 1000  # 1.5 % of the 16-bit range: black without stretching
    rgb = display_rgb(image)
    assert rgb.shape == (10, 20, 3)
    assert rgb[0, 0].tolist() == [1.0, 1.0, 1.0] and rgb[9, 0].tolist() == [0.0, 0.0, 0.0]


def test_display_rgb_keeps_a_constant_image() -> None:
    rgb = display_rgb(np.full((4, 4, 1), 51, dtype=np.uint8))
    np.testing.assert_allclose(rgb, 0.2)


def test_case_panels_colour_each_kind_of_pixel() -> None:
    image = np.zeros((4, 4, 1), dtype=np.uint8)
    image[0, 0] = 255  # the stretch then maps everything else to 0
    truth = np.zeros((4, 4), dtype=bool)
    pred = np.zeros((4, 4), dtype=bool)
    truth[1, 1] = pred[1, 1] = True  # correct
    pred[2, 2] = True  # false positive
    truth[3, 3] = True  # missed
    panels = case_panels(image, truth, pred)
    assert list(panels) == ["image", "ground truth", "prediction"]
    assert all(panel.dtype == np.uint8 and panel.shape == (4, 4, 3) for panel in panels.values())
    assert panels["image"][0, 0].tolist() == [255, 255, 255]
    assert panels["image"][1, 1].tolist() == [0, 0, 0]
    # half of each colour over black: TRUTH (0, .85, .3), TP (1, .85, 0), FP (1, .1, .35),
    # FN (0, .55, 1), times 255 and rounded
    assert panels["ground truth"][1, 1].tolist() == [0, 108, 38]
    assert panels["ground truth"][2, 2].tolist() == [0, 0, 0]
    assert panels["prediction"][1, 1].tolist() == [128, 108, 0]
    assert panels["prediction"][2, 2].tolist() == [128, 13, 45]
    assert panels["prediction"][3, 3].tolist() == [0, 70, 128]
    assert panels["prediction"][0, 1].tolist() == [0, 0, 0]


def test_case_panels_refuse_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="differ"):
        case_panels(np.zeros((4, 4, 1)), np.zeros((4, 4), bool), np.zeros((4, 5), bool))


def test_large_images_are_shrunk_to_max_side() -> None:
    image = np.zeros((2 * MAX_SIDE, MAX_SIDE, 1), dtype=np.uint8)
    masks = np.zeros(image.shape[:2], dtype=bool)
    panels = case_panels(image, masks, masks)
    assert panels["image"].shape == (MAX_SIDE, MAX_SIDE // 2, 3)


def test_load_case_panels_reads_files_and_checks_sizes(tmp_path) -> None:
    Image.fromarray(np.full((6, 8), 100, np.uint8)).save(tmp_path / "image.png")
    mask = np.zeros((6, 8), np.uint8)
    mask[2:4, 2:4] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    Image.fromarray(mask).save(tmp_path / "pred.png")
    Image.fromarray(np.zeros((6, 9), np.uint8)).save(tmp_path / "wrong.png")
    item = Item("image", tmp_path / "image.png", tmp_path / "mask.png")
    panels = load_case_panels(item, tmp_path / "pred.png", None)
    assert (panels["prediction"][2:4, 2:4] != panels["image"][2:4, 2:4]).all()
    with pytest.raises(SparsegError, match=r"wrong\.png: prediction is \(6, 9\)"):
        load_case_panels(item, tmp_path / "wrong.png", None)


def test_load_case_panels_draws_a_slice_of_a_predicted_volume(tmp_path) -> None:
    image = np.zeros((6, 8, 3), np.float32)
    image[..., 1] = 1.0  # slice 1 is bright: that is the slice drawn
    truth = np.zeros((6, 8, 3), np.uint8)
    truth[2:4, 2:4, 1] = 1
    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    for name, volume in (("case_0000", image), ("case", truth)):
        nib.save(nib.Nifti1Image(volume, affine), tmp_path / f"{name}.nii.gz")
    (tmp_path / "pred").mkdir()
    nib.save(nib.Nifti1Image(truth, affine), tmp_path / "pred" / "case.nii.gz")
    item = Item(
        "case_z001",
        tmp_path / "case_0000.nii.gz",
        tmp_path / "case.nii.gz",
        case="case",
        slice_axis=2,
        slice_index=1,
    )
    pred = prediction_file(tmp_path / "pred", item)
    assert pred == tmp_path / "pred" / "case.nii.gz"
    panels = load_case_panels(item, pred, None)
    assert panels["image"].shape == (8, 6, 3)  # the slice turned as the data path turns it
    tinted = (panels["prediction"] != panels["image"]).any(axis=-1)
    assert tinted.sum() == 4 and (panels["ground truth"] != panels["image"]).any(-1).sum() == 4


def test_png_bytes_round_trip() -> None:
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    assert (np.asarray(Image.open(io.BytesIO(png_bytes(rgb)))) == rgb).all()
