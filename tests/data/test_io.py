from __future__ import annotations

import os
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from sparseg.data.io import image_info, read_image, read_mask, to_unit_float
from sparseg.data.readers import ImageInfo
from sparseg.errors import SparsegError
from tests.helpers import write_dicom

GRAY8 = (np.arange(12 * 10).reshape(12, 10) * 2).astype(np.uint8)
GRAY16 = (np.arange(12 * 10).reshape(12, 10) * 500).astype(np.uint16)
RGB8 = np.stack([GRAY8, 255 - GRAY8, np.full_like(GRAY8, 7)], axis=-1)


def exactly(path: Path, problem: str, whole: bool = True) -> str:
    """A ``match=`` pattern for the message ``<path>: <problem>`` (whole line, or its start)."""
    return "^" + re.escape(f"{path}: {problem}") + ("$" if whole else "")


# ---------------------------------------------------------------- formats
@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".tiff"])
def test_lossless_8bit_gray_round_trips(tmp_path, write_image, suffix):
    path = write_image(tmp_path / f"a{suffix}", GRAY8)
    image = read_image(path)
    assert image.shape == (12, 10, 1) and image.dtype == np.uint8
    np.testing.assert_array_equal(image[..., 0], GRAY8)
    assert image_info(path) == ImageInfo(height=12, width=10, channels=1, bit_depth=8)


def test_jpeg_reads_close_to_the_original(tmp_path, write_image):
    smooth = np.full((16, 16), 120, dtype=np.uint8)
    path = write_image(tmp_path / "a.jpg", smooth)
    image = read_image(path)
    assert image.shape == (16, 16, 1) and image.dtype == np.uint8
    assert np.abs(image.astype(int) - 120).max() <= 2


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_stays_16bit(tmp_path, write_image, suffix):
    path = write_image(tmp_path / f"a{suffix}", GRAY16)
    image = read_image(path)
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(image[..., 0], GRAY16)
    assert image_info(path).bit_depth == 16


@pytest.mark.parametrize("suffix", [".png", ".tif", ".bmp"])
def test_rgb_has_three_channels(tmp_path, write_image, suffix):
    path = write_image(tmp_path / f"a{suffix}", RGB8)
    np.testing.assert_array_equal(read_image(path), RGB8)
    assert image_info(path).channels == 3


def test_rgba_drops_alpha(tmp_path, write_image):
    rgba = np.concatenate([RGB8, np.full_like(GRAY8, 9)[..., None]], axis=-1)
    path = write_image(tmp_path / "a.png", rgba)
    np.testing.assert_array_equal(read_image(path), RGB8)
    assert image_info(path).channels == 3


def test_palette_image_becomes_rgb_but_palette_mask_keeps_indices(tmp_path):
    indices = np.array([[0, 1], [2, 1]], dtype=np.uint8)
    palette_image = Image.fromarray(indices, mode="P")
    palette_image.putpalette([0, 0, 0, 200, 10, 10, 10, 200, 10] + [0] * (253 * 3))
    path = tmp_path / "p.png"
    palette_image.save(path)
    np.testing.assert_array_equal(read_image(path)[1, 0], [10, 200, 10])
    np.testing.assert_array_equal(read_mask(path, label=2), indices == 2)


def test_float_tiff_stays_float(tmp_path, write_image):
    values = np.linspace(-1, 3, 12 * 10, dtype=np.float32).reshape(12, 10)
    image = read_image(write_image(tmp_path / "f.tif", values))
    assert image.dtype == np.float32
    np.testing.assert_array_equal(image[..., 0], values)


def test_dicom_single_frame(tmp_path):
    path = write_dicom(tmp_path / "a.dcm", GRAY16)
    assert image_info(path) == ImageInfo(height=12, width=10, channels=1, bit_depth=16)
    np.testing.assert_array_equal(read_image(path)[..., 0], GRAY16)


def test_dicom_monochrome1_is_inverted(tmp_path):
    image = read_image(write_dicom(tmp_path / "a.dcm", GRAY8, "MONOCHROME1"))
    np.testing.assert_array_equal(image[..., 0], 255 - GRAY8)


def test_multi_frame_dicom_is_refused(tmp_path):
    path = write_dicom(tmp_path / "a.dcm", np.stack([GRAY8, GRAY8]))
    with pytest.raises(SparsegError, match="multi-frame DICOM"):
        read_image(path)


def test_unicode_and_spaces_in_names(tmp_path, write_image):
    path = write_image(tmp_path / "ñervio köpf 1.png", GRAY8)
    assert read_image(path).shape == (12, 10, 1)


# ---------------------------------------------------------------- unit float
def test_to_unit_float_divides_integers_by_dtype_max():
    np.testing.assert_allclose(to_unit_float(np.array([0, 51, 255], np.uint8)), [0, 0.2, 1])
    np.testing.assert_allclose(to_unit_float(np.array([0, 65535], np.uint16)), [0, 1])


def test_to_unit_float_min_max_scales_floats():
    result = to_unit_float(np.array([2.0, 4.0, 6.0], np.float32))
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, [0, 0.5, 1])
    np.testing.assert_array_equal(to_unit_float(np.full(3, 5.0, np.float32)), [0, 0, 0])


# ---------------------------------------------------------------- masks
@pytest.mark.parametrize(
    ("background", "foreground"), [(0, 255), (0, 1), (3, 7), (200, 100)], ids=str
)
def test_two_valued_masks_take_the_larger_value_as_foreground(
    tmp_path, write_image, background, foreground
):
    values = np.full((4, 4), background, np.uint8)
    values[1:3, 1:3] = foreground
    mask = read_mask(write_image(tmp_path / "m.png", values))
    assert mask.dtype == np.bool_ and mask.shape == (4, 4)
    np.testing.assert_array_equal(mask, values == max(background, foreground))


def test_single_valued_masks(tmp_path, write_image):
    assert read_mask(write_image(tmp_path / "full.png", np.full((4, 4), 255, np.uint8))).all()
    assert not read_mask(write_image(tmp_path / "empty.png", np.zeros((4, 4), np.uint8))).any()


def test_rgb_mask_is_reduced_to_one_channel(tmp_path, write_image):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    mask = read_mask(write_image(tmp_path / "m.png", rgb))
    assert mask.shape == (4, 4) and mask.sum() == 1 and mask[0, 0]


def test_label_map_needs_a_label(tmp_path, write_image):
    path = write_image(tmp_path / "labels.png", np.array([[0, 1], [2, 2]], np.uint8))
    with pytest.raises(SparsegError, match=r"labels\.png: mask has 3 distinct values.*--label"):
        read_mask(path)
    np.testing.assert_array_equal(read_mask(path, label=2), [[False, False], [True, True]])
    np.testing.assert_array_equal(read_mask(path, label=1), [[False, True], [False, False]])


def test_jpeg_mask_with_many_values_says_to_use_png(tmp_path, write_image):
    values = np.zeros((16, 16), np.uint8)
    values[4:9, 4:11] = 255
    path = write_image(tmp_path / "m.jpg", values)
    with pytest.raises(
        SparsegError, match=r"distinct values \(expected 2\); save masks losslessly"
    ):
        read_mask(path)


# ---------------------------------------------------------------- bad files
def _truncated(tmp_path: Path, write_image, suffix: str) -> Path:
    rng = np.random.default_rng(0)
    path = write_image(tmp_path / f"t{suffix}", rng.integers(0, 256, (64, 64), dtype=np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".bmp"])
def test_truncated_files_name_the_file(tmp_path, write_image, suffix):
    path = _truncated(tmp_path, write_image, suffix)
    with pytest.raises(SparsegError, match=exactly(path, "cannot read image", whole=False)):
        read_image(path)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.png"
    path.touch()
    with pytest.raises(SparsegError, match=exactly(path, "empty file (0 bytes)")):
        read_image(path)
    with pytest.raises(SparsegError, match="empty file"):
        image_info(path)


@pytest.mark.parametrize("suffix", [".png", ".dcm"])
def test_text_file_with_an_image_suffix(tmp_path, suffix):
    path = tmp_path / f"notes{suffix}"
    path.write_text("not an image\n")
    with pytest.raises(SparsegError, match=exactly(path, f"not a recognised {suffix} image file")):
        read_image(path)


def test_missing_file(tmp_path):
    with pytest.raises(SparsegError, match=exactly(tmp_path / "missing.png", "file not found")):
        read_image(tmp_path / "missing.png")


def test_symlink_loop_and_broken_link(tmp_path):
    loop = tmp_path / "loop.png"
    os.symlink(loop, loop)
    with pytest.raises(SparsegError, match=exactly(loop, "symbolic link loop")):
        read_image(loop)
    broken = tmp_path / "broken.png"
    os.symlink(tmp_path / "nowhere.png", broken)
    with pytest.raises(SparsegError, match=exactly(broken, "broken symbolic link")):
        image_info(broken)


def test_permission_denied(tmp_path, write_image, monkeypatch):
    # Tests may run as root, where chmod 000 does not stop reading: simulate the OS refusal.
    path = write_image(tmp_path / "locked.png", GRAY8)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("sparseg.data.readers.pillow.Image.open", refuse)
    with pytest.raises(SparsegError, match=exactly(path, "permission denied")):
        read_image(path)


def test_folder_with_an_image_suffix(tmp_path):
    (tmp_path / "odd.png").mkdir()
    with pytest.raises(
        SparsegError, match=exactly(tmp_path / "odd.png", "is a folder, not an image")
    ):
        read_image(tmp_path / "odd.png")


def test_errors_are_one_line(tmp_path, write_image):
    path = _truncated(tmp_path, write_image, ".png")
    with pytest.raises(SparsegError) as raised:
        read_image(path)
    assert "\n" not in str(raised.value)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR"


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about corrupt EXIF on the way
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    suffix=st.sampled_from([".png", ".jpg", ".tif", ".bmp", ".dcm"]),
    prefix=st.sampled_from([b"", PNG_SIGNATURE, b"II*\x00", b"\xff\xd8\xff", b"BM"]),
    payload=st.binary(max_size=300),
)
def test_random_bytes_never_crash_the_readers(tmp_path, suffix, prefix, payload):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(prefix + payload)
    for reader in (read_image, image_info, read_mask):
        try:
            reader(path)
        except SparsegError as error:
            assert str(error).startswith(str(path)) and "\n" not in str(error)
