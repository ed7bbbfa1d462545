"""Every registered reader keeps the same contract (timm style: tested by construction): fed the
same bad files, each gives one line naming the file, or the handling stated here — never an
internal error. Adding a format is one ``Reader`` class, one entry in ``READERS`` and one line
in ``FORMATS`` below (how the test writes a file of that format)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import tifffile
from PIL import Image

from sparseg.data.discovery import discover_items
from sparseg.data.io import image_info, read_image, read_mask
from sparseg.data.readers import INPUT_SUFFIXES, READERS, Reader, reader_for
from sparseg.data.readers.dicom import DicomReader
from sparseg.data.readers.nifti import NiftiReader
from sparseg.data.readers.pillow import PillowReader
from sparseg.data.readers.tiff import TiffReader
from sparseg.data.volumes import (
    output_suffix,
    read_mask_volume,
    read_volume,
    volume_info,
    write_like,
)
from sparseg.errors import SparsegError, SparsegWarning
from tests.helpers import write_dicom, write_nifti_cases
from tests.reliability.support import assert_one_line_error


def _pillow(path: Path, array: np.ndarray) -> None:
    Image.fromarray(array).save(path)


def _tiff(path: Path, array: np.ndarray) -> None:
    # frames as pages; a last axis of 5 (the extra-axis test) as samples of each pixel
    samples = {"planarconfig": "contig"} if array.shape[-1] == 5 else {}
    tifffile.imwrite(path, array, photometric="minisblack", **samples)


def _nifti(path: Path, array: np.ndarray) -> None:
    nib.save(nib.Nifti1Image(array, np.eye(4)), path)


@dataclass(frozen=True)
class Format:
    """How the test writes ``suffix`` files from an array: 2D (H, W) images when ``images``,
    volumes (stacks: frames first) when ``volumes``; ``floats``: it stores float values (so it
    can hold NaN); ``extra_axis``: it can store an array with one axis more than sparseg
    reads (samples per pixel beyond 4, a fourth volume axis)."""

    suffix: str
    write: Callable[[Path, np.ndarray], None]
    images: bool
    volumes: bool
    floats: bool
    extra_axis: bool


FORMATS: dict[type[Reader], Format] = {
    PillowReader: Format(".png", _pillow, True, False, False, False),
    TiffReader: Format(".tif", _tiff, True, True, True, True),
    DicomReader: Format(".dcm", write_dicom, True, True, False, False),
    NiftiReader: Format(".nii.gz", _nifti, False, True, True, True),
}

KINDS = ("image", "volume")
CASES = [
    pytest.param(reader, kind, id=f"{reader.__name__}-{kind}")
    for reader in READERS
    for kind in KINDS
]


def format_of(reader: type[Reader], kind: str) -> Format:
    fmt = FORMATS[reader]
    if not (fmt.images if kind == "image" else fmt.volumes):
        pytest.skip(f"{reader.name} files hold no {kind}s")
    return fmt


def shape_of(reader: type[Reader], kind: str, side: int = 32) -> tuple[int, ...]:
    """A 2D image (H, W), a volume (X, Y, Z) or a stack (frames, H, W)."""
    if kind == "image":
        return (side, side)
    return (side, side, 4) if reader is NiftiReader else (4, side, side)


def write(reader: type[Reader], kind: str, path: Path, array: np.ndarray) -> Path:
    path = path.with_name(path.name + format_of(reader, kind).suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    FORMATS[reader].write(path, array)
    return path


def binary(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    values = np.random.default_rng(seed).random(shape) < 0.3
    return np.where(values, 255, 0).astype(np.uint8)


def read_everything(path: Path) -> None:
    """What a data set's file goes through: its header, its pixels, its mask."""
    if volume_info(path) is None:
        image_info(path)
        read_image(path)
        read_mask(path)
    else:
        read_volume(path)
        read_mask_volume(path)


def one_line_naming(path: Path, error: pytest.ExceptionInfo[SparsegError]) -> str:
    message = str(error.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message, message
    return message


def test_every_registered_reader_has_a_format_line() -> None:
    assert set(FORMATS) == set(READERS)


def test_every_suffix_routes_to_exactly_one_reader() -> None:
    assert len(INPUT_SUFFIXES) == sum(len(reader.suffixes) for reader in READERS)
    for reader in READERS:
        for suffix in reader.suffixes:
            assert isinstance(reader_for(Path(f"a{suffix.upper()}")), reader)


def test_an_unknown_suffix_is_one_line() -> None:
    with pytest.raises(SparsegError, match=r"^a\.gif: not a file format sparseg reads"):
        read_image(Path("a.gif"))


@pytest.mark.parametrize(("reader", "kind"), CASES)
class TestReader:
    def test_a_good_file_reads_back_as_written(self, reader, kind, tmp_path) -> None:
        array = binary(shape_of(reader, kind))
        path = write(reader, kind, tmp_path / "good", array)
        if kind == "image":
            assert volume_info(path) is None
            assert np.array_equal(read_image(path)[..., 0], array)
            assert np.array_equal(read_mask(path), array > 0)
        else:
            assert volume_info(path).shape == array.shape
            assert np.array_equal(read_volume(path), array)
            assert np.array_equal(read_mask_volume(path), array > 0)

    def test_a_volume_is_written_back_in_its_format(self, reader, kind, tmp_path) -> None:
        if kind == "image":
            pytest.skip("2D predictions are written as PNG, whatever the input")
        source = write(reader, kind, tmp_path / "source", binary(shape_of(reader, kind)))
        mask = binary(shape_of(reader, kind), seed=1) // 255
        out = tmp_path / f"out{output_suffix(source)}"
        write_like(source, mask, out)
        assert np.array_equal(read_mask_volume(out), mask > 0)
        probability = np.full(shape_of(reader, kind), 0.25, np.float32)
        floats = tmp_path / f"probability{output_suffix(source, probability=True)}"
        write_like(source, probability, floats)
        assert np.allclose(read_volume(floats), probability)

    def test_truncated(self, reader, kind, tmp_path) -> None:
        noise = np.random.default_rng(0).integers(0, 256, shape_of(reader, kind, 64))
        path = write(reader, kind, tmp_path / "cut", noise.astype(np.uint8))
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(SparsegError) as error:
            read_everything(path)
        one_line_naming(path, error)

    def test_not_the_format(self, reader, kind, tmp_path) -> None:
        path = tmp_path / f"notes{format_of(reader, kind).suffix}"
        path.write_text("not an image, a note\n" * 40)
        with pytest.raises(SparsegError) as error:
            read_everything(path)
        one_line_naming(path, error)

    def test_nan_and_infinite_values_are_refused(self, reader, kind, tmp_path) -> None:
        if not format_of(reader, kind).floats:
            pytest.skip(f"{reader.name} files store integers: no NaN")
        array = np.ones(shape_of(reader, kind), np.float32)
        array.flat[3], array.flat[7] = np.nan, np.inf
        path = write(reader, kind, tmp_path / "nan", array)
        with pytest.raises(SparsegError) as error:
            read_everything(path)
        message = one_line_naming(path, error)
        assert re.search(r": 2 NaN or infinite value\(s\); replace them", message), message

    def test_all_zero_reads_as_zeros_and_an_empty_mask(self, reader, kind, tmp_path) -> None:
        path = write(reader, kind, tmp_path / "zero", np.zeros(shape_of(reader, kind), np.uint8))
        pixels = read_image(path) if kind == "image" else read_volume(path)
        mask = read_mask(path) if kind == "image" else read_mask_volume(path)
        assert not pixels.any() and not mask.any()

    def test_an_extra_axis_is_refused(self, reader, kind, tmp_path) -> None:
        if not format_of(reader, kind).extra_axis:
            pytest.skip(f"{reader.name} files hold no array with an axis more")
        array = np.zeros((*shape_of(reader, kind), 5), np.uint8)
        path = write(reader, kind, tmp_path / "extra", array)
        with pytest.raises(SparsegError) as error:
            read_everything(path)
        one_line_naming(path, error)

    def test_a_mask_of_another_size_names_the_mask(self, reader, kind, tmp_path) -> None:
        write(reader, kind, tmp_path / "data/images/a", binary(shape_of(reader, kind)))
        mask = write(reader, kind, tmp_path / "data/masks/a", binary(shape_of(reader, kind, 24)))
        with pytest.raises(SparsegError) as error:
            discover_items(tmp_path / "data")
        assert "mask" in one_line_naming(mask, error)


@pytest.mark.parametrize("reader", [r for r in READERS if FORMATS[r].volumes])
def test_all_zero_image_volumes_are_left_out_with_a_warning(reader, tmp_path) -> None:
    """``keep_slices: nonzero`` keeps no slice of an all-zero image: its case is left out with
    one warning naming it, and a data set of nothing else is one error naming the folder."""
    shape = shape_of(reader, "volume")
    root = tmp_path / "data"
    for case, image in (("blank", np.zeros(shape, np.uint8)), ("good", binary(shape))):
        write(reader, "volume", root / "images" / case, image)
        write(reader, "volume", root / "masks" / case, binary(shape, seed=2))
    with pytest.warns(SparsegWarning, match="1 case.* left out.*all zero.*: blank$"):
        items = discover_items(root)
    assert {item.group for item in items} == {"good"}
    blank = tmp_path / "blank"
    write(reader, "volume", blank / "images/a", np.zeros(shape, np.uint8))
    write(reader, "volume", blank / "masks/a", binary(shape, seed=2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(SparsegError, match=f"^{re.escape(str(blank))}: the image volume of"):
            discover_items(blank)


# ---------------------------------------------------------------- through the command line
def test_a_nifti_voxel_of_nan_is_exit_2_naming_the_file(run_cli, tmp_path) -> None:
    data = write_nifti_cases(tmp_path / "data", cases=("a", "b"))
    image = data / "imagesTr/a_0000.nii.gz"
    volume = nib.load(image)
    voxels = np.asarray(volume.dataobj).copy()
    voxels[10, 10, 3] = np.nan
    nib.save(nib.Nifti1Image(voxels, volume.affine), image)
    assert_one_line_error(run_cli("inspect", data), f"{image}: 1 NaN or infinite value(s)")


def test_a_data_set_of_all_zero_volumes_is_exit_2_naming_the_folder(run_cli, tmp_path) -> None:
    data = write_nifti_cases(tmp_path / "data", cases=("a", "b"))
    for case in ("a", "b"):
        image = data / f"imagesTr/{case}_0000.nii.gz"
        nib.save(nib.Nifti1Image(np.zeros((32, 32, 6), np.float32), np.eye(4)), image)
    result = run_cli("inspect", data)
    assert_one_line_error(result, f"{data}: the image volume of every case (2) is all zero")
    assert "masks are empty" not in result.stderr
