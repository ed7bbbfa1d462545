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
    """A pair as is; a lone 2D image file as an unlabelled item of its own."""
    if isinstance(source, Item):
        return source
    return Item(id=file_id(source), image=Path(source), mask=None)


def item_info(pair: Item) -> ImageInfo:
    """Size (H, W), channels (over all channel files) and bit depth of one item."""
    if pair.is_slice:
        info = volume_info(pair.image)
        if info is None:
            raise SparsegError(f"{pair.image}: not a volume, but {pair.id} is a slice of it")
        height, width = slice_size(info, int(pair.slice_axis))  # type: ignore[arg-type]
        channels = info.channels * len(pair.files)
        return ImageInfo(height=height, width=width, channels=channels, bit_depth=info.bit_depth)
    header = image_info(pair.image)
    if len(pair.files) == 1:
        return header
    return ImageInfo(header.height, header.width, len(pair.files), header.bit_depth)


def read_item_image(pair: Item) -> np.ndarray:
    """(H, W, C) pixels: as stored for one file, float32 in [0, 1] per channel for several."""
    planes = [_read_file(pair, path) for path in pair.files]
    if len(planes) == 1:
        return planes[0]
    first = planes[0].shape[:2]
    for path, plane in zip(pair.files, planes, strict=True):
        if plane.shape[:2] != first:
            raise SparsegError(
                f"{path}: channel is {plane.shape[0]}x{plane.shape[1]} (HxW) but "
                f"{pair.files[0].name} is {first[0]}x{first[1]}"
            )
    return np.concatenate([to_unit_float(plane) for plane in planes], axis=-1)


def read_item_mask(pair: Item, label: int | None = None) -> np.ndarray:
    """Boolean (H, W) foreground of the item (see :func:`sparseg.data.io.read_mask`)."""
    if pair.mask is None:
        raise SparsegError(f"{pair.image}: no mask for {pair.id}")
    if pair.is_slice:
        return read_mask_slice(pair.mask, int(pair.slice_axis), int(pair.slice_index), label)  # type: ignore[arg-type]
    return read_mask(pair.mask, label)


def _read_file(pair: Item, path: Path) -> np.ndarray:
    if pair.is_slice:
        return read_slice(path, int(pair.slice_axis), int(pair.slice_index))  # type: ignore[arg-type]
    return read_image(path)


def thin_empty_slices(
    pairs: list[Item], slicing: Slicing, label: int | None, seed: int
) -> list[Item]:
    """Training items under ``keep_slices: <share>``: every slice with foreground, and that
    seeded share of the slices without (other items and other rules pass unchanged)."""
    if isinstance(slicing.keep, str) or not any(pair.is_slice for pair in pairs):
        return pairs
    empty = [
        i for i, pair in enumerate(pairs) if pair.is_slice and not read_item_mask(pair, label).any()
    ]
    keep = round(slicing.keep * len(empty))
    chosen = set(np.random.default_rng(seed).permutation(empty)[:keep].tolist())
    dropped = set(empty) - chosen
    return [pair for i, pair in enumerate(pairs) if i not in dropped]
