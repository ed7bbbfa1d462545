"""The segmentation network: an smp model by name, config tweaks, deep-supervision heads."""

from sparseg.models.factory import SegmentationNet, build_model, describe_model, plain_model

__all__ = ["SegmentationNet", "build_model", "describe_model", "plain_model"]
