"""Finding a data set folder's items (an image, or a slice of a volume, with its mask if any) and
checking that image and mask belong together.

Two layouts are read: ``images/<id>.<ext>`` + ``masks/<id>.<ext>``, and nnU-Net's raw layout
``imagesTr/<case>_0000.<ext>`` (``_0001``, ... for more input channels) + ``labelsTr/<case>.<ext>``.
A volume or stack (NIfTI, multi-frame DICOM, multi-page TIFF) is a case whose slices are the
items (:mod:`sparseg.data.volumes`); a 2D file is a case of one item. Only headers are read,
except that keeping the non-zero slices of a volume reads its first channel.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sparseg.data.io import image_info
from sparseg.data.readers import INPUT_SUFFIXES, ImageInfo, VolumeInfo, file_id, file_suffix
from sparseg.data.volumes import Slicing, nonzero_slices, slice_id, volume_info
from sparseg.errors import SparsegError, SparsegWarning

NNUNET_IMAGE_FOLDERS = ("imagesTr", "imagesTs")
_NNUNET_CHANNEL = re.compile(r"^(?P<id>.+)_(?P<channel>\d{4})$")


@dataclass(frozen=True)
class Item:
    """One item to segment — a 2D image, or one slice of a volume or frame of a stack — by its
    id, the (first-channel) image file and the mask file (None: unlabelled).

    ``channels`` lists every channel file in order when a case has several (``image`` is the
    first). Slices of a volume carry their ``case`` (the volume's id, the group of the splits),
    ``slice_axis`` and ``slice_index``.
    """

    id: str
    image: Path
    mask: Path | None
    channels: tuple[Path, ...] = ()
    case: str | None = None
    slice_axis: int | None = None
    slice_index: int | None = None

    @property
    def group(self) -> str:
        """The case the item belongs to (itself for a 2D image)."""
        return self.case or self.id

    @property
    def files(self) -> tuple[Path, ...]:
        """The image files of the item, one per input channel."""
        return self.channels or (self.image,)

    @property
    def is_slice(self) -> bool:
        return self.slice_index is not None


def discover_items(
    root: Path, require_masks: bool = True, slicing: Slicing | None = None
) -> list[Item]:
    """All items under ``root``, sorted by id, with sizes and channels checked from the headers.

    ``require_masks=False`` (prediction input) lets images go without a mask; ``slicing`` says
    how volumes become slices (default: :class:`Slicing`'s defaults).
    """
    root = Path(root)
    if not root.is_dir():
        raise SparsegError(f"{root}: data folder not found")
    if (root / "images").is_dir():
        cases = {case: [path] for case, path in _files_by_id(root / "images").items()}
        masks_dir = root / "masks"
    elif (root / "imagesTr").is_dir():
        cases = _nnunet_cases(_files_by_id(root / "imagesTr"))
        masks_dir = root / "labelsTr"
    else:
        raise SparsegError(f"{root}: expected an images/ (or nnU-Net imagesTr/) folder in it")
    if not masks_dir.is_dir():
        if require_masks:
            raise SparsegError(f"{masks_dir}: mask folder not found")
        masks: dict[str, Path] = {}
    else:
        masks = _files_by_id(masks_dir, allow_empty=not require_masks)

    for mask_id, mask in masks.items():
        if mask_id not in cases:
            raise SparsegError(f"{mask}: mask without an image (no image with id {mask_id!r})")
    items = {}
    for case, files in sorted(cases.items()):
        mask = masks.get(case)
        if mask is None and require_masks:
            raise SparsegError(f"{files[0]}: image without a mask (no {case}.* in {masks_dir})")
        items[case] = case_items(case, files, mask, slicing or Slicing())
    return _kept(root, items)


def list_images(path: Path, slicing: Slicing | None = None) -> list[Item]:
    """Prediction inputs, mask=None: one image or volume file, a folder of them, or a data set
    root. In a folder, ``<case>_0000``, ``_0001``, ... are one case's channels when it is an
    nnU-Net ``imagesTr``/``imagesTs`` folder or when every file is named so (the folder
    ``nnUNetv2_predict -i`` takes); otherwise each file is a case."""
    path = Path(path)
    slicing = slicing or Slicing()
    if path.is_file():
        if file_suffix(path) not in INPUT_SUFFIXES:
            raise SparsegError(f"{path}: not an image file (expected {', '.join(INPUT_SUFFIXES)})")
        return case_items(file_id(path), [path], None, slicing)
    if not path.is_dir():
        raise SparsegError(f"{path}: input not found")
    if (path / "images").is_dir() or (path / "imagesTr").is_dir():
        items = discover_items(path, require_masks=False, slicing=slicing)
        return [_without_mask(item) for item in items]
    files = _files_by_id(path)
    if path.name in NNUNET_IMAGE_FOLDERS or _named_as_channels(files):
        cases = _nnunet_cases(files)
    else:
        cases = {image_id: [image] for image_id, image in files.items()}
    by_case = {case: case_items(case, found, None, slicing) for case, found in cases.items()}
    return _kept(path, by_case)


def case_items(case: str, files: Sequence[Path], mask: Path | None, slicing: Slicing) -> list[Item]:
    """The items of one case: itself (a 2D image) or its kept slices (a volume or stack), with
    channel files and mask checked to match the first channel."""
    info = volume_info(files[0])
    channels = tuple(files) if len(files) > 1 else ()
    if info is None:
        _check_2d_case(files, mask)
        return [Item(id=case, image=files[0], mask=mask, channels=channels)]
    for other in (*files[1:], *([mask] if mask is not None else [])):
        _check_volume_shape(files[0], info, other, is_mask=other is mask)
    axis = slicing.axis_for(info)
    if not 0 <= axis < 3:
        raise SparsegError(f"data.slice_axis: {axis} is not a volume axis (0, 1 or 2)")
    if slicing.keep == "all":
        indices = list(range(info.shape[axis]))
    else:
        indices = nonzero_slices(files[0], axis)
    return [
        Item(
            id=slice_id(case, info, axis, index),
            image=files[0],
            mask=mask,
            channels=channels,
            case=case,
            slice_axis=axis,
            slice_index=index,
        )
        for index in indices
    ]


def _kept(where: Path, by_case: dict[str, list[Item]]) -> list[Item]:
    """The items of every case, sorted by id. A volume whose image is all zero has no slice
    under ``keep_slices: nonzero``: such cases are left out with one warning naming them, and a
    folder of nothing else is an error."""
    blank = sorted(case for case, found in by_case.items() if not found)
    items = sorted((item for found in by_case.values() for item in found), key=lambda p: p.id)
    if blank and not items:
        raise SparsegError(
            f"{where}: the image volume of every case ({len(blank)}) is all zero, so "
            "data.keep_slices: nonzero keeps no slice; nothing to read"
        )
    if blank:
        warnings.warn(
            f"{where}: {len(blank)} case(s) left out, their image volume is all zero "
            f"(data.keep_slices: nonzero keeps no slice of it): {_first_few(blank)}",
            SparsegWarning,
            stacklevel=3,
        )
    return items


def _first_few(names: list[str], shown: int = 5) -> str:
    return ", ".join(names[:shown]) + (" ..." if len(names) > shown else "")


def _without_mask(item: Item) -> Item:
    return Item(
        item.id, item.image, None, item.channels, item.case, item.slice_axis, item.slice_index
    )


def _files_by_id(folder: Path, allow_empty: bool = False) -> dict[str, Path]:
    """Image and volume files of ``folder`` by id; other and hidden files (macOS ``._*``) are
    skipped with one warning."""
    found: dict[str, Path] = {}
    skipped = []
    for entry in sorted(folder.iterdir()):
        hidden = entry.name.startswith(".")
        if hidden or entry.is_dir() or file_suffix(entry) not in INPUT_SUFFIXES:
            skipped.append(entry.name)
            continue
        if entry.is_symlink() and not entry.exists():
            image_info(entry)  # raises the precise reason: broken link or link loop
        entry_id = file_id(entry)
        if entry_id in found:
            raise SparsegError(
                f"{entry}: duplicate id {entry_id!r} (also {found[entry_id].name}); "
                "keep one file per id"
            )
        found[entry_id] = entry
    if skipped:
        warnings.warn(
            f"{folder}: skipped {len(skipped)} non-image entr{'y' if len(skipped) == 1 else 'ies'}"
            f" ({_first_few(skipped)})",
            SparsegWarning,
            stacklevel=3,
        )
    if not found and not allow_empty:
        raise SparsegError(f"{folder}: no images found (suffixes {', '.join(INPUT_SUFFIXES)})")
    return found


def _named_as_channels(files: dict[str, Path]) -> bool:
    """Whether every id is ``<case>_NNNN`` and every case is numbered from ``_0000`` without
    gaps, as many in each: numbered frames (``frame_0001``, ...) are not channels."""
    numbers: dict[str, set[int]] = {}
    for stem in files:
        match = _NNUNET_CHANNEL.match(stem)
        if match is None:
            return False
        numbers.setdefault(match["id"], set()).add(int(match["channel"]))
    counts = {len(found) for found in numbers.values()}
    return len(counts) == 1 and all(found == set(range(len(found))) for found in numbers.values())


def _nnunet_cases(files: dict[str, Path]) -> dict[str, list[Path]]:
    """``<case>_0000``, ``<case>_0001``, ... → ``{case: [channel files in order]}``; every case
    needs the same channels, numbered from 0000 without gaps."""
    channels: dict[str, dict[int, Path]] = {}
    for stem, path in files.items():
        match = _NNUNET_CHANNEL.match(stem)
        if match is None:
            raise SparsegError(
                f"{path}: nnU-Net image names must end in a channel number, _0000 (e.g. "
                "case_0000.nii.gz; _0001, ... for more input channels)"
            )
        channels.setdefault(match["id"], {})[int(match["channel"])] = path
    count = max(len(found) for found in channels.values())
    for case, found in sorted(channels.items()):
        for channel in range(count):
            if channel not in found:
                some = next(iter(found.values()))
                missing = some.parent / f"{case}_{channel:04d}{file_suffix(some)}"
                raise SparsegError(
                    f"{missing}: channel file missing for case {case!r} (other cases have "
                    f"{count} channels, _0000 to _{count - 1:04d})"
                )
        extra = sorted(set(found) - set(range(count)))
        if extra:
            raise SparsegError(
                f"{found[extra[0]]}: channel number out of sequence (a gap before it)"
            )
    return {case: [found[c] for c in range(count)] for case, found in channels.items()}


def _check_2d_case(files: Sequence[Path], mask: Path | None) -> None:
    headers = [image_info(files[0])]
    for other in files[1:]:
        if volume_info(other) is not None:
            raise SparsegError(f"{other}: a volume, but channel _0000 of its case is a 2D image")
        headers.append(image_info(other))
        if (headers[-1].height, headers[-1].width) != (headers[0].height, headers[0].width):
            raise SparsegError(
                f"{other}: channel is {headers[-1].height}x{headers[-1].width} (HxW) but "
                f"{files[0].name} is {headers[0].height}x{headers[0].width}"
            )
    if len(files) > 1:
        for path, header in zip(files, headers, strict=True):
            if header.channels != 1:
                raise SparsegError(f"{path}: a channel file must be grayscale (one channel)")
    if mask is not None:
        _check_sizes(files[0], headers[0], mask)


def _check_volume_shape(reference: Path, info: VolumeInfo, other: Path, is_mask: bool) -> None:
    other_info = volume_info(other)
    what = "mask" if is_mask else "channel"
    if other_info is None:
        raise SparsegError(f"{other}: {what} is a 2D image but {reference.name} is a volume")
    if other_info.shape != info.shape:
        shape = "x".join(map(str, other_info.shape))
        raise SparsegError(
            f"{other}: {what} volume is {shape} but {reference.name} is "
            f"{'x'.join(map(str, info.shape))}"
        )


def _check_sizes(image: Path, image_header: ImageInfo, mask: Path) -> None:
    if volume_info(mask) is not None:
        raise SparsegError(f"{mask}: mask is a volume but its image {image.name} is a 2D image")
    mask_header = image_info(mask)
    image_size = (image_header.height, image_header.width)
    mask_size = (mask_header.height, mask_header.width)
    if image_size != mask_size:
        raise SparsegError(
            f"{mask}: mask is {mask_size[0]}x{mask_size[1]} (HxW) but its image {image.name} "
            f"is {image_size[0]}x{image_size[1]}"
        )
