"""Finding image/mask pairs in a data set folder and checking they belong together.

Two layouts are read: ``images/<id>.<ext>`` + ``masks/<id>.<ext>``, and nnU-Net's raw layout
``imagesTr/<id>_0000.<ext>`` + ``labelsTr/<id>.<ext>``. Only headers are read here.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from sparseg.data.io import IMAGE_SUFFIXES, image_info
from sparseg.errors import SparsegError, SparsegWarning

_NNUNET_CHANNEL = re.compile(r"^(?P<id>.+)_(?P<channel>\d{4})$")


@dataclass(frozen=True)
class Pair:
    """One sample: its id (the file stem), the image file and the mask file (None: unlabelled)."""

    id: str
    image: Path
    mask: Path | None


def discover_pairs(root: Path, require_masks: bool = True) -> list[Pair]:
    """All pairs under ``root``, sorted by id, with sizes checked from the file headers.

    ``require_masks=False`` (prediction input) lets images go without a mask.
    """
    root = Path(root)
    if not root.is_dir():
        raise SparsegError(f"{root}: data folder not found")
    if (root / "images").is_dir():
        images = _files_by_id(root / "images")
        masks_dir = root / "masks"
    elif (root / "imagesTr").is_dir():
        images = _nnunet_images(_files_by_id(root / "imagesTr"))
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
        if mask_id not in images:
            raise SparsegError(f"{mask}: mask without an image (no image with id {mask_id!r})")
    pairs = []
    for image_id, image in sorted(images.items()):
        mask = masks.get(image_id)
        if mask is None and require_masks:
            raise SparsegError(f"{image}: image without a mask (no {image_id}.* in {masks_dir})")
        if mask is None:
            image_info(image)
        else:
            _check_sizes(image, mask)
        pairs.append(Pair(id=image_id, image=image, mask=mask))
    return pairs


def list_images(path: Path) -> list[Pair]:
    """Prediction inputs, mask=None: one image file, a folder of images, or a data set root."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise SparsegError(f"{path}: not an image file (expected {', '.join(IMAGE_SUFFIXES)})")
        image_info(path)
        return [Pair(id=path.stem, image=path, mask=None)]
    if not path.is_dir():
        raise SparsegError(f"{path}: input not found")
    if (path / "images").is_dir() or (path / "imagesTr").is_dir():
        pairs = discover_pairs(path, require_masks=False)
        return [Pair(id=pair.id, image=pair.image, mask=None) for pair in pairs]
    pairs = []
    for image_id, image in sorted(_files_by_id(path).items()):
        image_info(image)
        pairs.append(Pair(id=image_id, image=image, mask=None))
    return pairs


def _files_by_id(folder: Path, allow_empty: bool = False) -> dict[str, Path]:
    """Image files of ``folder`` by stem; other and hidden files (macOS ``._*``) are skipped
    with one warning."""
    found: dict[str, Path] = {}
    skipped = []
    for entry in sorted(folder.iterdir()):
        hidden = entry.name.startswith(".")
        if hidden or entry.is_dir() or entry.suffix.lower() not in IMAGE_SUFFIXES:
            skipped.append(entry.name)
            continue
        if entry.is_symlink() and not entry.exists():
            image_info(entry)  # raises the precise reason: broken link or link loop
        if entry.stem in found:
            raise SparsegError(
                f"{entry}: duplicate id {entry.stem!r} (also {found[entry.stem].name}); "
                "keep one file per id"
            )
        found[entry.stem] = entry
    if skipped:
        shown = ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else "")
        warnings.warn(
            f"{folder}: skipped {len(skipped)} non-image entr{'y' if len(skipped) == 1 else 'ies'}"
            f" ({shown})",
            SparsegWarning,
            stacklevel=3,
        )
    if not found and not allow_empty:
        raise SparsegError(f"{folder}: no images found (suffixes {', '.join(IMAGE_SUFFIXES)})")
    return found


def _nnunet_images(files: dict[str, Path]) -> dict[str, Path]:
    """``<id>_0000`` → ``<id>``; other channel numbers are multi-modal inputs we cannot use."""
    images = {}
    for stem, path in files.items():
        match = _NNUNET_CHANNEL.match(stem)
        if match is None:
            raise SparsegError(
                f"{path}: nnU-Net image names must end in _0000 (e.g. case_0000.png)"
            )
        if match["channel"] != "0000":
            raise SparsegError(
                f"{path}: extra nnU-Net input channel; only single-channel _0000 inputs work"
            )
        images[match["id"]] = path
    return images


def _check_sizes(image: Path, mask: Path) -> None:
    image_header, mask_header = image_info(image), image_info(mask)
    image_size = (image_header.height, image_header.width)
    mask_size = (mask_header.height, mask_header.width)
    if image_size != mask_size:
        raise SparsegError(
            f"{mask}: mask is {mask_size[0]}x{mask_size[1]} (HxW) but its image {image.name} "
            f"is {image_size[0]}x{image_size[1]}"
        )
