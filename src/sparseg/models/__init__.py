"""The segmentation network: an smp model by name, config tweaks, deep-supervision heads, and
how its outputs (mask logits, optional presence logit) are read; its weights are saved and
loaded by :mod:`sparseg.models.checkpoint`."""

from sparseg.models.factory import SegmentationNet, build_model, describe_model, plain_model
from sparseg.models.outputs import join_outputs, mask_logits, split_outputs

__all__ = [
    "SegmentationNet",
    "build_model",
    "describe_model",
    "join_outputs",
    "mask_logits",
    "plain_model",
    "split_outputs",
]
