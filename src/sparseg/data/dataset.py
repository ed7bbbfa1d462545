"""Lazy torch datasets: whole images resized to the input size, or nnU-Net-style patches.

Nothing but file headers is read at construction; each item reads its own image and mask, so
memory does not grow with the number of images (:mod:`sparseg.data.cache` keeps them when the
run asks for it and they fit).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from kornia.color import rgb_to_grayscale
from torch.utils.data import Dataset

from sparseg.data.discovery import Item
from sparseg.data.io import to_unit_float
from sparseg.data.items import as_item, item_info, read_item_image, read_item_mask
from sparseg.data.preprocess import NORMALIZATIONS, normalize_image, resize_image
from sparseg.data.readers import ImageInfo
from sparseg.data.sampling import choose_patch_origin, extract_patch
from sparseg.errors import SparsegError


def load_image_tensor(item: Item | Path, channels: int) -> torch.Tensor:
    """(C, H, W) float32 in [0, 1] with exactly ``channels`` channels.

    Grayscale is repeated to 3 channels, RGB reduced to luminance for 1, so a data set that
    mixes gray and RGB files feeds one model; multi-channel cases keep their channels.
    """
    return image_tensor(read_item_image(as_item(item)), channels)


def image_tensor(pixels: np.ndarray, channels: int) -> torch.Tensor:
    """:func:`load_image_tensor` for pixels already read with :func:`read_item_image`."""
    image = torch.from_numpy(to_unit_float(pixels)).permute(2, 0, 1)
    if image.shape[0] == channels:
        return image.contiguous()
    if channels not in (1, 3) or image.shape[0] not in (1, 3):
        raise SparsegError(f"image has {image.shape[0]} channel(s) but {channels} are expected")
    if channels == 3:
        return image.expand(3, -1, -1).contiguous()
    return rgb_to_grayscale(image)


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(1, H, W) {0, 1} → (1, *size) {0, 1}.

    The mask goes through the image's own kernel (antialiased bilinear) and is re-thresholded at
    0.5, so it stays aligned with the image and an object survives when it covers about half an
    output pixel or more, whatever the grid phase (nearest-neighbour keeps or drops small
    objects depending on where the sampling grid happens to fall).
    """
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    return (resize_image(mask, size) >= 0.5).to(torch.float32)


def _check_items(items: Sequence[Item]) -> list[Item]:
    items = list(items)
    if not items:
        raise SparsegError("no image pairs to train or evaluate on (empty data set or split)")
    return items


def _check_normalize(mode: str) -> str:
    if mode not in NORMALIZATIONS:
        raise SparsegError(f"data.normalize: unknown mode {mode!r} (allowed: zscore, minmax, none)")
    return mode


def _read_checked_mask(item: Item, label: int | None, image_size: tuple[int, int]) -> np.ndarray:
    mask = read_item_mask(item, label)
    if mask.shape != tuple(image_size):
        raise SparsegError(
            f"{item.mask}: mask is {mask.shape[0]}x{mask.shape[1]} (HxW) but its image "
            f"{item.image.name} is {image_size[0]}x{image_size[1]}"
        )
    return mask


def _as_tensor(mask: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(mask).to(torch.float32)[None]


class SegDataset(Dataset):
    """Whole images resized to ``input_size`` (H, W), normalised per image after resizing.

    Each sample: ``image`` float32 (C, H, W), ``mask`` float32 (1, H, W) in {0, 1} (absent for items
    without a mask), ``id``, and ``original_size`` (H, W) of the file, for resizing back.
    """

    def __init__(
        self,
        items: Sequence[Item],
        input_size: tuple[int, int],
        normalize: str = "zscore",
        label: int | None = None,
        channels: int | None = None,
    ) -> None:
        self.items = _check_items(items)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.normalize = _check_normalize(normalize)
        self.label = label
        self._channels = channels or item_info(self.items[0]).channels

    @property
    def in_channels(self) -> int:
        return self._channels

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        item = self.items[index]
        image = load_image_tensor(item, self._channels)
        original_size = (image.shape[1], image.shape[2])
        sample = {
            "image": normalize_image(resize_image(image, self.input_size), self.normalize),
            "id": item.id,
            "original_size": torch.tensor(original_size),
        }
        if item.mask is not None:
            mask = _read_checked_mask(item, self.label, original_size)
            sample["mask"] = resize_mask(_as_tensor(mask), self.input_size)
        return sample


class PatchDataset(Dataset):
    """``length`` patches of ``patch_size`` (H, W) per epoch, nnU-Net style.

    Item ``i`` comes from image ``i % len(items)``; with probability ``foreground_oversample``
    it is centred on a random foreground pixel, otherwise placed uniformly at random. Draws are
    a pure function of (seed, epoch, i), so results do not depend on worker processes; call
    :meth:`set_epoch` before each epoch's DataLoader iterator is created. The image is
    normalised whole, then cropped; areas outside a smaller image are 0 in image and mask.
    """

    def __init__(
        self,
        items: Sequence[Item],
        patch_size: tuple[int, int],
        foreground_oversample: float,
        length: int,
        seed: int,
        normalize: str = "zscore",
        label: int | None = None,
        channels: int | None = None,
        cache_decoded: bool = False,
    ) -> None:
        self.items = _check_items(items)
        self.patch_size = (int(patch_size[0]), int(patch_size[1]))
        if not 0.0 <= foreground_oversample <= 1.0:
            raise SparsegError(
                f"data.foreground_oversample: {foreground_oversample} is not in [0, 1]"
            )
        if length < 1:
            raise SparsegError(f"patch dataset length must be at least 1, got {length}")
        for item in self.items:
            if item.mask is None:
                raise SparsegError(f"{item.image}: patch sampling needs a mask for every image")
        self.foreground_oversample = foreground_oversample
        self.length = length
        self.seed = seed
        self.normalize = _check_normalize(normalize)
        self.label = label
        self.epoch = 0
        self.cache_decoded = cache_decoded
        self._decoded: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        headers = [item_info(item) for item in self.items]
        self._require_fitting_image(headers)
        self._channels = channels or headers[0].channels

    def _require_fitting_image(self, headers: list[ImageInfo]) -> None:
        height, width = self.patch_size
        if not any(h.height >= height and h.width >= width for h in headers):
            largest = max(headers, key=lambda h: h.height * h.width)
            raise SparsegError(
                f"data.input_size: patch {height}x{width} is larger than every image (largest "
                f"{largest.height}x{largest.width}); lower data.input_size or use data.mode=resize"
            )

    @property
    def in_channels(self) -> int:
        return self._channels

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        item_index = index % len(self.items)
        item = self.items[item_index]
        centre_on_foreground = bool(rng.random() < self.foreground_oversample)
        pixels, mask = self._pixels_and_mask(item_index)
        image = normalize_image(image_tensor(pixels, self._channels), self.normalize)
        origin = choose_patch_origin(mask, self.patch_size, centre_on_foreground, rng)
        return {
            "image": extract_patch(image, origin, self.patch_size),
            "mask": extract_patch(_as_tensor(mask), origin, self.patch_size),
            "id": item.id,
        }

    def _pixels_and_mask(self, item_index: int) -> tuple[np.ndarray, np.ndarray]:
        """Decoded pixels (the file's dtype) and boolean mask; kept after the first read when
        ``cache_decoded`` (each DataLoader worker keeps its own)."""
        if item_index in self._decoded:
            return self._decoded[item_index]
        item = self.items[item_index]
        pixels = read_item_image(item)
        mask = _read_checked_mask(item, self.label, pixels.shape[:2])
        if self.cache_decoded:
            self._decoded[item_index] = (pixels, mask)
        return pixels, mask
