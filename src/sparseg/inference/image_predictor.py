"""The interface every predictor implements under the same names: a trained run or ensemble
(:class:`sparseg.inference.predictor.Predictor`, PyTorch) and an exported ONNX file
(:class:`sparseg.inference.onnx_predict.OnnxPredictor`, onnxruntime and numpy). Folder
prediction and the Python API's ``Predictor`` call these names and never ask which one they
hold.

Free of PyTorch, since the ONNX predictor builds on it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from sparseg.config import DataConfig, InferenceConfig
from sparseg.data.discovery import Item
from sparseg.data.items import as_item, item_info
from sparseg.data.preprocess import Array
from sparseg.errors import SparsegError
from sparseg.inference.finish import finish_mask


class ImagePredictor(ABC):
    """An image → its foreground probabilities at native size → its mask, with the inference
    steps of ``inference``.

    A subclass sets ``data``, ``inference`` and ``in_channels`` and implements :meth:`image`
    (reading an item in the kind its network takes) and :meth:`prediction`; the rest follows.
    """

    data: DataConfig
    """How the network was trained to see images: input size, normalisation, volume slicing."""
    inference: InferenceConfig
    """The inference steps applied: the tuned ones when the run was tuned."""
    in_channels: int
    """Input channels the network expects."""

    @abstractmethod
    def image(self, item: Item | Path) -> Array:
        """(C, H, W) unit-float image of ``item`` (a torch tensor for PyTorch, a numpy array for
        ONNX), refused when its channels don't fit the network."""

    @abstractmethod
    def prediction(
        self,
        image: Array,
        inference: InferenceConfig | None = None,
        item_id: str | None = None,
    ) -> tuple[np.ndarray, float | None]:
        """Foreground probability (H, W) at the image's native size and the presence head's
        probability that it has foreground (None without one), for an ``image`` from
        :meth:`image` or a numpy array of that shape; with ``inference``'s TTA and windows
        (default: ``self.inference``'s). ``item_id`` names the image where a predictor answers
        from saved probabilities."""

    def probabilities(
        self,
        image: Array,
        inference: InferenceConfig | None = None,
        item_id: str | None = None,
    ) -> np.ndarray:
        """The probability map of :meth:`prediction` alone."""
        return self.prediction(image, inference, item_id)[0]

    def mask(self, image: Array, probability: np.ndarray, presence: float | None) -> np.ndarray:
        """``probability`` finished into a mask by ``self.inference``'s steps (threshold,
        post-processing, CRF on the image's mean over channels, empty gate)."""
        return finish_mask(probability, np.asarray(image).mean(0), self.inference, presence)

    def predict_items(self, items: Iterable[Item]) -> Iterator[tuple[Item, np.ndarray, np.ndarray]]:
        """Each item with its probability map and its mask."""
        for item in items:
            image = self.image(item)
            probability, presence = self.prediction(image, item_id=item.id)
            yield item, probability, self.mask(image, probability, presence)

    def _checked_item(self, item: Item | Path) -> Item:
        """``item`` as an Item, refused (before its pixels are read) when its channels don't fit."""
        item = as_item(item)
        channels = item_info(item).channels
        if channels != self.in_channels:
            raise SparsegError(
                f"{item.image}: image has {channels} channel(s) but the model expects "
                f"{self.in_channels}"
            )
        return item
