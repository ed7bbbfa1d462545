"""Reading one item of a data set: a 2D image, or a slice of a volume, with all its channels.

Every stage that reads pixels (datasets, cache sizing, validation, prediction, fingerprint)
goes through these three functions, so a slice or a multi-channel case is an ordinary item.
Several channel files are each scaled to [0, 1] on their own before stacking (contrasts such as
FLAIR, T1 and T2 have unrelated intensity ranges); a single file keeps its stored dtype.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sparseg.data.discovery import Item
from sparseg.data.io import image_info, read_image, read_mask, to_unit_float
from sparseg.data.readers import ImageInfo, file_id
from sparseg.data.volumes import Slicing, read_mask_slice, read_slice, slice_size, volume_info
from sparseg.errors import SparsegError


def as_item(source: Item | Path) -> Item:
    """An item as is; a lone 2D image file as an unlabelled item of its own."""
    if isinstance(source, Item):
        return source
    return Item(id=file_id(source), image=Path(source), mask=None)


def item_info(item: Item) -> ImageInfo:
    """Size (H, W), channels (over all channel files) and bit depth of one item."""
    if item.is_slice:
        info = volume_info(item.image)
        if info is None:
            raise SparsegError(f"{item.image}: not a volume, but {item.id} is a slice of it")
        height, width = slice_size(info, int(item.slice_axis))  # type: ignore[arg-type]
        channels = info.channels * len(item.files)
        return ImageInfo(height=height, width=width, channels=channels, bit_depth=info.bit_depth)
    header = image_info(item.image)
    if len(item.files) == 1:
        return header
    return ImageInfo(header.height, header.width, len(item.files), header.bit_depth)


def read_item_image(item: Item) -> np.ndarray:
    """(H, W, C) pixels: as stored for one file, float32 in [0, 1] per channel for several."""
    planes = [_read_file(item, path) for path in item.files]
    if len(planes) == 1:
        return planes[0]
    first = planes[0].shape[:2]
    for path, plane in zip(item.files, planes, strict=True):
        if plane.shape[:2] != first:
            raise SparsegError(
                f"{path}: channel is {plane.shape[0]}x{plane.shape[1]} (HxW) but "
                f"{item.files[0].name} is {first[0]}x{first[1]}"
            )
    return np.concatenate([to_unit_float(plane) for plane in planes], axis=-1)


def read_item_mask(item: Item, label: int | None = None) -> np.ndarray:
    """Boolean (H, W) foreground of the item (see :func:`sparseg.data.io.read_mask`)."""
    if item.mask is None:
        raise SparsegError(f"{item.image}: no mask for {item.id}")
    if item.is_slice:
        return read_mask_slice(item.mask, int(item.slice_axis), int(item.slice_index), label)  # type: ignore[arg-type]
    return read_mask(item.mask, label)


def _read_file(item: Item, path: Path) -> np.ndarray:
    if item.is_slice:
        return read_slice(path, int(item.slice_axis), int(item.slice_index))  # type: ignore[arg-type]
    return read_image(path)


def thin_empty_slices(
    items: list[Item], slicing: Slicing, label: int | None, seed: int
) -> list[Item]:
    """Training items under ``keep_slices: <share>``: every slice with foreground, and that
    seeded share of the slices without (other items and other rules pass unchanged)."""
    if isinstance(slicing.keep, str) or not any(item.is_slice for item in items):
        return items
    empty = [
        i for i, item in enumerate(items) if item.is_slice and not read_item_mask(item, label).any()
    ]
    keep = round(slicing.keep * len(empty))
    chosen = set(np.random.default_rng(seed).permutation(empty)[:keep].tolist())
    dropped = set(empty) - chosen
    return [item for i, item in enumerate(items) if i not in dropped]
