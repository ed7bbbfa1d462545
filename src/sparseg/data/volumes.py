"""Volumes and frame stacks as cases of 2D slices: NIfTI (nibabel), multi-frame DICOM (pydicom),
multi-page TIFF (tifffile); one slice read lazily, and a volume written back like its input.

The slice convention lives here and nowhere else. A NIfTI slice along axis ``a`` is the voxel
plane of the two other axes in order, turned 90° counter-clockwise (``np.rot90``): a volume
stored in RAS+ (MNI space, most converters) shows anterior (or superior) at the top and the
patient's left on the image's left, as in ``ms_lesjak_flair``'s hand-made axial PNGs. A stack's
slices are its frames as stored. :func:`assemble` applies the exact inverse, so slicing and
reassembly are bit-exact.

Decoded arrays stay in a small per-process LRU (``VOLUMES_KEPT`` files), so memory does not grow
with the number of volumes and reading a case's slices in order decodes each file once
(uncompressed ``.nii`` is memory-mapped by nibabel and costs nothing to "decode").
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import tifffile
from nibabel.filebasedimages import ImageFileError
from nibabel.spatialimages import HeaderDataError
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from sparseg.data.io import file_suffix, foreground, guarded, native_dtype
from sparseg.errors import SparsegError
from sparseg.io_utils import atomic_write

VOLUMES_KEPT = 6  # decoded files per process: a case's channels and its mask, plus one spare
KEEP_RULES = ("all", "nonzero")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
_AXIS_LETTERS = "xyz"


@dataclass(frozen=True)
class VolumeInfo:
    """A volume's voxel ``shape`` (stacks: frames, rows, columns), ``spacing`` in mm per axis,
    ``kind`` (nifti, dicom or tiff), ``channels`` per voxel (3 for colour frames) and the
    stored ``bit_depth``."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    kind: str
    channels: int = 1
    bit_depth: int = 32


@dataclass(frozen=True)
class Slicing:
    """How volumes become items: ``axis`` (None: the lowest-resolution axis, else the last;
    stacks are always cut into frames) and ``keep`` (all slices, or those whose first-channel
    image is not all zero; a float keeps the non-zero ones and, in training only, that share of
    the slices without foreground)."""

    axis: int | None = None
    keep: str | float = "nonzero"

    @classmethod
    def of(cls, data: object) -> Slicing:
        """From a :class:`~sparseg.config.schema.DataConfig` (its slice_axis and keep_slices)."""
        return cls(getattr(data, "slice_axis", None), getattr(data, "keep_slices", "nonzero"))

    def axis_for(self, info: VolumeInfo) -> int:
        if info.kind != "nifti":
            return 0
        if self.axis is not None:
            return self.axis
        spacing = np.asarray(info.spacing)
        coarsest = np.flatnonzero(spacing >= spacing.max() * (1 - 1e-3))
        return int(coarsest[0]) if len(coarsest) == 1 else 2


def is_nifti(path: Path) -> bool:
    return file_suffix(path) in NIFTI_SUFFIXES


@lru_cache(maxsize=4096)
def volume_info(path: Path) -> VolumeInfo | None:
    """The header of a NIfTI file, a multi-frame DICOM or a multi-page TIFF; None for a single
    2D image (one frame or page), which :mod:`sparseg.data.io` reads."""
    path = Path(path)
    suffix = file_suffix(path)
    if suffix in NIFTI_SUFFIXES:
        return guarded(path, lambda: _nifti_info(path))
    if suffix == ".dcm":
        return guarded(path, lambda: _dicom_info(path))
    if suffix in (".tif", ".tiff"):  # a damaged 2D TIFF warns when it is read as an image
        return guarded(path, lambda: _tiff_info(path), warn=False)
    return None


def slice_id(case: str, info: VolumeInfo, axis: int, index: int) -> str:
    """``<case>_z042`` (NIfTI: the axis letter x/y/z), ``<case>_f007`` (a stack's frame)."""
    letter = _AXIS_LETTERS[axis] if info.kind == "nifti" else "f"
    digits = max(3, len(str(info.shape[axis] - 1)))
    return f"{case}_{letter}{index:0{digits}d}"


def slice_size(info: VolumeInfo, axis: int) -> tuple[int, int]:
    """(H, W) of one slice along ``axis``."""
    other = [side for a, side in enumerate(info.shape) if a != axis]
    return (other[1], other[0]) if info.kind == "nifti" else (other[0], other[1])


def read_slice(path: Path, axis: int, index: int) -> np.ndarray:
    """One slice as (H, W, C) pixels in :func:`sparseg.data.io.read_image`'s dtypes."""
    plane = volume_plane(read_volume(path), axis, index, is_nifti(path))
    return native_dtype(plane if plane.ndim == 3 else plane[..., None])


def read_mask_slice(path: Path, axis: int, index: int, label: int | None) -> np.ndarray:
    """One boolean (H, W) slice of a mask volume; the mask rule is applied to the whole volume."""
    return volume_plane(read_mask_volume(path, label), axis, index, is_nifti(path))


def nonzero_slices(path: Path, axis: int) -> list[int]:
    """Indices of the slices along ``axis`` with any non-zero voxel."""
    volume = read_volume(path)
    other = tuple(a for a in range(volume.ndim) if a != axis)
    return [int(i) for i in np.flatnonzero(np.any(volume != 0, axis=other))]


@lru_cache(maxsize=VOLUMES_KEPT)
def read_volume(path: Path) -> np.ndarray:
    """The whole decoded array (read-only, shared by the LRU): NIfTI (X, Y, Z), stacks
    (frames, H, W) or (frames, H, W, 3)."""
    path = Path(path)
    suffix = file_suffix(path)
    if suffix in NIFTI_SUFFIXES:
        array = guarded(path, lambda: _nifti_array(path))
    elif suffix == ".dcm":
        array = guarded(path, lambda: _dicom_array(path))
    else:
        array = guarded(path, lambda: _tiff_array(path))
    array.flags.writeable = False
    return array


@lru_cache(maxsize=VOLUMES_KEPT)
def read_mask_volume(path: Path, label: int | None = None) -> np.ndarray:
    """A mask volume as booleans (``read_mask``'s rule over the whole volume, colour → max)."""
    values = read_volume(Path(path))
    if values.ndim == 4:
        values = values.max(axis=-1)
    mask = foreground(Path(path), values, label)
    mask.flags.writeable = False
    return mask


def assemble(slices: dict[int, np.ndarray], info: VolumeInfo, axis: int, dtype: type) -> np.ndarray:
    """The volume of ``info.shape`` from (H, W) slices by index (missing slices are 0): the
    exact inverse of :func:`read_slice`'s convention."""
    volume = np.zeros(info.shape, dtype=dtype)
    nifti = info.kind == "nifti"
    for index, plane in slices.items():
        where = [slice(None)] * 3
        where[axis] = index
        volume[tuple(where)] = np.rot90(plane, k=-1) if nifti else plane
    return volume


def write_like(source: Path, volume: np.ndarray, out_path: Path) -> None:
    """Write ``volume`` (uint8 mask or float32 probabilities) as ``out_path``'s suffix says,
    taking from ``source``: NIfTI with its affine and header (data type and scaling set for
    ``volume``), a multi-frame DICOM with its patient/study/geometry attributes, or a
    multi-page TIFF."""
    source, out_path = Path(source), Path(out_path)
    if is_nifti(out_path):
        image = nib.load(source)
        header = image.header.copy()
        header.set_data_dtype(volume.dtype)
        header.set_slope_inter(1.0, 0.0)
        result = type(image)(volume, image.affine, header)
        payload = result.to_bytes()
        if file_suffix(out_path) == ".nii.gz":
            payload = gzip.compress(payload, compresslevel=6, mtime=0)
        atomic_write(out_path, lambda tmp: tmp.write_bytes(payload))
    elif file_suffix(out_path) == ".dcm":
        dataset = _dicom_like(source, volume)
        atomic_write(out_path, lambda tmp: dataset.save_as(tmp, enforce_file_format=True))
    else:
        atomic_write(out_path, lambda tmp: tifffile.imwrite(tmp, volume, photometric="minisblack"))


def output_suffix(source: Path, probability: bool = False) -> str:
    """The file suffix a prediction of ``source`` is written with (probabilities: float TIFF
    for stacks, since DICOM holds no float frames)."""
    suffix = file_suffix(source)
    if suffix in NIFTI_SUFFIXES:
        return suffix
    return ".tif" if probability or suffix != ".dcm" else ".dcm"


def volume_plane(volume: np.ndarray, axis: int, index: int, nifti: bool) -> np.ndarray:
    """Slice ``index`` along ``axis`` of an array of a volume's shape, in the slice convention."""
    if not 0 <= index < volume.shape[axis]:
        raise SparsegError(f"slice {index} out of range (axis {axis} has {volume.shape[axis]})")
    plane = np.take(volume, index, axis=axis)
    return np.ascontiguousarray(np.rot90(plane) if nifti else plane)


# ---------------------------------------------------------------- readers
def _nifti_image(path: Path) -> nib.Nifti1Image:
    try:
        image = nib.load(path)
    except gzip.BadGzipFile:
        raise SparsegError(
            f"{path}: not a NIfTI file (not gzip-compressed, yet named .gz)"
        ) from None
    except ImageFileError:
        raise SparsegError(f"{path}: not a NIfTI file (no NIfTI-1 or NIfTI-2 header)") from None
    except (HeaderDataError, EOFError, ValueError) as exc:
        raise SparsegError(f"{path}: not a NIfTI file ({_first_line(exc)})") from None
    if not isinstance(image, nib.Nifti1Image | nib.Nifti2Image):
        raise SparsegError(f"{path}: not a NIfTI file (nibabel reads it as {type(image).__name__})")
    return image


def _nifti_shape(path: Path, shape: tuple[int, ...]) -> tuple[int, int, int]:
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) != 3:
        raise SparsegError(
            f"{path}: {len(shape)}D NIfTI of shape {'x'.join(map(str, shape))}; sparseg reads 3D "
            "volumes, one contrast per file (split it into <case>_0000, <case>_0001, ...)"
        )
    return (int(shape[0]), int(shape[1]), int(shape[2]))


def _nifti_info(path: Path) -> VolumeInfo:
    image = _nifti_image(path)
    shape = _nifti_shape(path, image.shape)
    zooms = tuple(float(z) for z in image.header.get_zooms()[:3])
    zooms = (*zooms, 1.0, 1.0)[:3]
    bits = 8 * image.get_data_dtype().itemsize
    return VolumeInfo(shape=shape, spacing=zooms, kind="nifti", bit_depth=bits)  # type: ignore[arg-type]


def _nifti_array(path: Path) -> np.ndarray:
    image = _nifti_image(path)
    shape = _nifti_shape(path, image.shape)
    proxy = image.dataobj
    scaled = getattr(proxy, "slope", 1.0) != 1.0 or getattr(proxy, "inter", 0.0) != 0.0
    try:
        array = image.get_fdata(dtype=np.float32) if scaled else np.asanyarray(proxy)
    except (EOFError, ValueError, OSError) as exc:
        raise SparsegError(f"{path}: truncated or damaged NIfTI ({_first_line(exc)})") from None
    return array.reshape(shape)


def _frames(path: Path, count: int) -> None:
    if count < 2:
        raise SparsegError(f"{path}: a single frame, not a stack")


def _dicom_info(path: Path) -> VolumeInfo | None:
    dataset = pydicom.dcmread(path, stop_before_pixels=True)
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    if frames < 2:
        return None
    rows, cols = _dicom_pixel_spacing(dataset)
    between = float(dataset.get("SpacingBetweenSlices", dataset.get("SliceThickness", 1.0)) or 1)
    samples = int(dataset.get("SamplesPerPixel", 1))
    return VolumeInfo(
        shape=(frames, int(dataset.Rows), int(dataset.Columns)),
        spacing=(between, rows, cols),
        kind="dicom",
        channels=3 if samples >= 3 else 1,
        bit_depth=int(dataset.get("BitsStored", dataset.get("BitsAllocated", 16))),
    )


def _dicom_pixel_spacing(dataset: pydicom.Dataset) -> tuple[float, float]:
    spacing = dataset.get("PixelSpacing")
    shared = dataset.get("SharedFunctionalGroupsSequence")
    if spacing is None and shared:
        measures = shared[0].get("PixelMeasuresSequence")
        spacing = measures[0].get("PixelSpacing") if measures else None
    if spacing is None:
        return 1.0, 1.0
    return float(spacing[0]), float(spacing[1])


def _dicom_array(path: Path) -> np.ndarray:
    dataset = pydicom.dcmread(path)
    _frames(path, int(dataset.get("NumberOfFrames", 1) or 1))
    array = dataset.pixel_array
    if dataset.get("PhotometricInterpretation") == "MONOCHROME1":  # stored inverted: 0 = white
        array = array.max() + array.min() - array.astype(np.float32)
    return array


def _tiff_info(path: Path) -> VolumeInfo | None:
    with tifffile.TiffFile(path) as tiff:
        frames = len(tiff.pages)
        if frames < 2:
            return None
        page = tiff.pages.first
        samples = page.samplesperpixel
        return VolumeInfo(
            shape=(frames, int(page.imagelength), int(page.imagewidth)),
            spacing=(1.0, 1.0, 1.0),
            kind="tiff",
            channels=3 if samples >= 3 else 1,
            bit_depth=int(page.bitspersample),
        )


def _tiff_array(path: Path) -> np.ndarray:
    with tifffile.TiffFile(path) as tiff:
        _frames(path, len(tiff.pages))
        array = np.stack([page.asarray() for page in tiff.pages])
    if array.ndim == 4 and array.shape[1] in (3, 4) and array.shape[-1] not in (3, 4):
        array = np.moveaxis(array, 1, -1)  # planar configuration: samples before rows
    return array[..., :3] if array.ndim == 4 else array


def _dicom_like(source: Path, volume: np.ndarray) -> pydicom.Dataset:
    """``source``'s header with ``volume`` (uint8 frames) as uncompressed monochrome pixels."""
    dataset = pydicom.dcmread(source, stop_before_pixels=True)
    for keyword in (
        "PlanarConfiguration",
        "RescaleSlope",
        "RescaleIntercept",
        "WindowCenter",
        "WindowWidth",
        "LargestImagePixelValue",
        "SmallestImagePixelValue",
    ):
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


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
