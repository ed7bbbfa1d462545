"""hypothesis fuzzing: the config loader and the image readers either work or raise the one-line
:class:`SparsegError`; nothing else escapes.

Random bytes into the readers are already fuzzed in tests/data/test_io.py; here the inputs are
YAML-ish texts, ``--set`` strings, valid images of random content, and valid files damaged by
truncation, byte flips and insertions (which reach deeper into the decoders than random bytes).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from sparseg.config import Config, load_config
from sparseg.data.io import image_info, read_image, read_mask
from sparseg.errors import SparsegError

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

SECTION_KEYS = sorted(
    f"{section}.{key}"
    for section, model in Config.model_fields.items()
    for key in getattr(model.annotation, "model_fields", {})
)
KEY_PATHS = [*SECTION_KEYS, "seed", "augment.hflip.p", "inference.crf.enabled", "data"]
NAMES = sorted({part for path in KEY_PATHS for part in path.split(".")})
YAML_TOKENS = [
    *NAMES,
    ":",
    ": ",
    "\n",
    "\n  ",
    "  ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ", ",
    "&a ",
    "*a",
    "<<: ",
    "!!python/object/apply:os.system ['true']",
    "!!binary ",
    "!!float ",
    "1e-3",
    "0.5",
    "-1",
    ".inf",
    ".nan",
    "null",
    "~",
    "yes",
    "0x1F",
    "1_000",
    "'",
    '"',
    "# note",
    "? ",
    "|",
    ">",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "\t",
    "é",
    "\x00",
    "9" * 5000,
    "[" * 400,
]
yaml_ish = st.lists(st.sampled_from(YAML_TOKENS) | st.text(max_size=6), max_size=40).map("".join)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
overrides = st.tuples(
    st.sampled_from(KEY_PATHS) | st.text(max_size=12), st.sampled_from(["=", ""]), yaml_ish
).map("".join)


def check_config(path: Path | None, settings_: list[str]) -> None:
    try:
        assert isinstance(load_config(path, settings_), Config)
    except SparsegError as error:
        message = str(error)
        assert "\n" not in message, message
        assert message.startswith((f"{path}: ", "--set ", "config: ")), message


@FUZZ
@given(text=yaml_ish)
def test_yaml_ish_text(tmp_path, text):
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    check_config(path, [])


@FUZZ
@given(document=st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=6), values, max_size=5))
def test_random_mappings_of_real_key_names(tmp_path, document):
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    check_config(path, [])


@FUZZ
@given(settings_=st.lists(overrides, max_size=4))
def test_random_overrides(settings_):
    check_config(None, settings_)


# ---------------------------------------------------------------- image readers
FORMATS = [".png", ".jpg", ".tif", ".bmp"]


@st.composite
def images(draw) -> tuple[str, np.ndarray]:
    """(suffix, array) that the format can store: gray/RGB/RGBA, 8-bit, or 16-bit gray."""
    suffix = draw(st.sampled_from(FORMATS))
    height, width = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    channels = draw(st.sampled_from([None, 3] if suffix in (".jpg", ".bmp") else [None, 3, 4]))
    sixteen = suffix in (".png", ".tif") and channels is None and draw(st.booleans())
    dtype = np.uint16 if sixteen else np.uint8
    shape = (height, width) if channels is None else (height, width, channels)
    seed = draw(st.integers(0, 2**32 - 1))
    levels = draw(st.sampled_from([2, 3, 256]))  # 2 levels: a valid mask
    values = np.random.default_rng(seed).integers(0, levels, size=shape)
    return suffix, (values * (np.iinfo(dtype).max // max(levels - 1, 1))).astype(dtype)


def encode(suffix: str, array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    if suffix == ".tif":
        tifffile.imwrite(buffer, array, photometric="rgb" if array.ndim == 3 else None)
    else:
        Image.fromarray(array).save(
            buffer, format={".jpg": "JPEG", ".bmp": "BMP"}.get(suffix, "PNG")
        )
    return buffer.getvalue()


@FUZZ
@given(image=images())
def test_valid_images_of_random_content(tmp_path, image):
    suffix, array = image
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(encode(suffix, array))
    pixels = read_image(path)
    info = image_info(path)
    assert (
        pixels.shape
        == (info.height, info.width, info.channels)
        == (
            array.shape[0],
            array.shape[1],
            1 if array.ndim == 2 else 3,
        )
    )
    assert pixels.dtype == array.dtype
    if suffix != ".jpg":  # lossless formats give the stored values back
        np.testing.assert_array_equal(pixels[..., 0], array if array.ndim == 2 else array[..., 0])
    distinct = len(np.unique(array if array.ndim == 2 else array[..., :3].max(axis=-1)))
    if distinct <= 2 or suffix == ".jpg":
        try:
            assert read_mask(path).shape == array.shape[:2]
        except SparsegError as error:  # JPEG may blur two values into more
            assert suffix == ".jpg" and "distinct values" in str(error)
    else:
        with pytest.raises(SparsegError, match="distinct values"):
            read_mask(path)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about corrupt EXIF on the way
@FUZZ
@given(
    image=images(),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=6),
    insert=st.binary(max_size=16),
)
def test_damaged_valid_files(tmp_path, image, cut, flips, insert):
    suffix, array = image
    data = bytearray(encode(suffix, array))
    for where, value in flips:
        data[int(where * (len(data) - 1))] = value
    position = int(cut * len(data))
    damaged = bytes(data[:position]) + insert + bytes(data[position:])
    if cut < 0.5:
        damaged = damaged[: max(position, 1)]  # truncated
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(damaged)
    for reader in (image_info, read_image, read_mask):
        try:
            reader(path)
        except SparsegError as error:
            assert str(error).startswith(str(path)) and "\n" not in str(error)
