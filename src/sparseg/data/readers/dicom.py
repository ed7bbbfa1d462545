"""DICOM through pydicom: a single frame is a 2D image, several frames a stack (a loop)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from sparseg.data.readers.base import ImageInfo, Reader, VolumeInfo, sample_channels
from sparseg.errors import SparsegError
from sparseg.io_utils import atomic_write

# Attributes of the source that would misdescribe the written uint8 mask frames.
_DROPPED = (
    "PlanarConfiguration",
    "RescaleSlope",
    "RescaleIntercept",
    "WindowCenter",
    "WindowWidth",
    "LargestImagePixelValue",
    "SmallestImagePixelValue",
)


class DicomReader(Reader):
    name = "DICOM"
    suffixes = (".dcm",)
    not_format = (InvalidDicomError,)
    loggers = ("pydicom",)

    def image_info(self, path: Path) -> ImageInfo:
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
        _single_frame(path, dataset)
        return ImageInfo(
            height=int(dataset.Rows),
            width=int(dataset.Columns),
            channels=sample_channels(path, int(dataset.get("SamplesPerPixel", 1))),
            bit_depth=int(dataset.get("BitsStored", dataset.BitsAllocated)),
        )

    def read_image(self, path: Path, palette_as_indices: bool) -> np.ndarray:
        dataset = pydicom.dcmread(path)
        _single_frame(path, dataset)
        return _pixels(dataset)

    def volume_info(self, path: Path) -> VolumeInfo | None:
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
        frames = _frame_count(dataset)
        if frames < 2:
            return None
        rows, cols = _pixel_spacing(dataset)
        between = float(
            dataset.get("SpacingBetweenSlices", dataset.get("SliceThickness", 1.0)) or 1
        )
        return VolumeInfo(
            shape=(frames, int(dataset.Rows), int(dataset.Columns)),
            spacing=(between, rows, cols),
            oriented=False,
            channels=sample_channels(path, int(dataset.get("SamplesPerPixel", 1))),
            bit_depth=int(dataset.get("BitsStored", dataset.get("BitsAllocated", 16))),
        )

    def read_volume(self, path: Path) -> np.ndarray:
        dataset = pydicom.dcmread(path)
        if _frame_count(dataset) < 2:
            raise SparsegError(f"{path}: a single frame, not a stack")
        return _pixels(dataset)

    def write_volume(self, source: Path, volume: np.ndarray, out_path: Path) -> None:
        dataset = _like(source, volume)
        atomic_write(out_path, lambda tmp: dataset.save_as(tmp, enforce_file_format=True))

    def output_suffix(self, source: Path, probability: bool) -> str:
        return ".tif" if probability else ".dcm"  # DICOM holds no float frames


def _frame_count(dataset: pydicom.Dataset) -> int:
    return int(dataset.get("NumberOfFrames", 1) or 1)


def _single_frame(path: Path, dataset: pydicom.Dataset) -> None:
    if _frame_count(dataset) > 1:
        raise SparsegError(f"{path}: multi-frame DICOM is not supported (one 2D image per file)")


def _pixels(dataset: pydicom.Dataset) -> np.ndarray:
    array = dataset.pixel_array
    if dataset.get("PhotometricInterpretation") != "MONOCHROME1":
        return array
    # MONOCHROME1 is stored inverted (0 = white): turned so that bright is high, as elsewhere.
    if array.dtype.kind == "u":
        return (2 ** int(dataset.get("BitsStored", array.dtype.itemsize * 8)) - 1) - array
    return array.max() + array.min() - array.astype(np.float32)


def _pixel_spacing(dataset: pydicom.Dataset) -> tuple[float, float]:
    spacing = dataset.get("PixelSpacing")
    shared = dataset.get("SharedFunctionalGroupsSequence")
    if spacing is None and shared:
        measures = shared[0].get("PixelMeasuresSequence")
        spacing = measures[0].get("PixelSpacing") if measures else None
    if spacing is None:
        return 1.0, 1.0
    return float(spacing[0]), float(spacing[1])


def _like(source: Path, volume: np.ndarray) -> pydicom.Dataset:
    """``source``'s header with ``volume`` (uint8 frames) as uncompressed monochrome pixels."""
    dataset = pydicom.dcmread(source, stop_before_pixels=True)
    for keyword in _DROPPED:
        if keyword in dataset:
            delattr(dataset, keyword)
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    dataset.SeriesInstanceUID = generate_uid()
    dataset.SeriesDescription = "sparseg segmentation"
    dataset.ImageType = ["DERIVED", "SECONDARY"]
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated = dataset.BitsStored = 8
    dataset.HighBit = 7
    dataset.PixelRepresentation = 0
    dataset.NumberOfFrames = volume.shape[0]
    dataset.PixelData = np.ascontiguousarray(volume, dtype=np.uint8).tobytes()
    dataset["PixelData"].VR = "OB"
    return dataset
