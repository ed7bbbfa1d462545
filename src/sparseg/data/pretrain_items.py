"""Every image pretraining reads: a labelled set's images with their masks left aside (its test
cases left out when a split is given), folders of unlabelled images, volumes as slices and
multi-frame loops as frames, all through the readers ``train`` uses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from sparseg.data.discovery import Item, list_images
from sparseg.data.items import item_info
from sparseg.data.resolve import ItemSelection
from sparseg.data.volumes import Slicing
from sparseg.errors import SparsegError


def pretrain_sources(
    data: Path | None,
    folders: Sequence[Path],
    slicing: Slicing,
    split_file: Path | None = None,
) -> dict[Path, list[Item]]:
    """The unlabelled items of each source: ``data`` (a labelled set; with ``split_file``, every
    case that holds a test item is left out) first, then each folder of ``folders``."""
    if data is None and not folders:
        raise SparsegError("pretrain: give a data set (--data) or a folder of images (--images)")
    sources: dict[Path, list[Item]] = {}
    if data is not None:
        selection = ItemSelection(
            Path(data), slicing=slicing, split_file=split_file, require_masks=False
        )
        labelled = list(selection.items.values())
        if split_file is not None:
            test_cases = {item.group for item in selection.subset_items("test")}
            labelled = [item for item in labelled if item.group not in test_cases]
        sources[Path(data)] = [replace(item, mask=None) for item in labelled]
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise SparsegError(f"{folder}: image folder not found")
        sources[folder] = list_images(folder, slicing)
    if not any(sources.values()):
        raise SparsegError("pretrain: no images to learn from (every one is a test image)")
    return sources


def common_channels(items: Sequence[Item]) -> int:
    """The one channel count of ``items``; a mix is refused with the two files that differ."""
    first, first_count = items[0], item_info(items[0]).channels
    for item in items[1:]:
        count = item_info(item).channels
        if count != first_count:
            raise SparsegError(
                f"{item.image}: {count} channel(s), but {first.image} has {first_count}; one "
                "network reads one channel count (convert the images, or pretrain on each kind "
                "apart)"
            )
    return first_count
