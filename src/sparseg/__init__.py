"""sparseg: train, evaluate and ship segmentation models for small structures in medical images."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sparseg")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
