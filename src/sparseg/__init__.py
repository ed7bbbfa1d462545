"""sparseg: train, evaluate and ship segmentation models for small structures in medical images.

The Python API (:mod:`sparseg.api`) is re-exported here: ``sparseg.load_config``,
``sparseg.train``, ``sparseg.tune``, ``sparseg.crossval``, ``sparseg.select``,
``sparseg.evaluate``, ``sparseg.Predictor``,
``sparseg.predict``, ``sparseg.export``, ``sparseg.score``; bad input raises
``sparseg.SparsegError`` with the one line the CLI prints.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("sparseg")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

if TYPE_CHECKING:
    from sparseg.api import (
        Config,
        Prediction,
        Predictor,
        SparsegError,
        crossval,
        evaluate,
        export,
        load_config,
        predict,
        score,
        select,
        train,
        tune,
    )

__all__ = [
    "Config",
    "Prediction",
    "Predictor",
    "SparsegError",
    "__version__",
    "crossval",
    "evaluate",
    "export",
    "load_config",
    "predict",
    "score",
    "select",
    "train",
    "tune",
]
API_NAMES = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> Any:
    # Lazy (PEP 562): the CLI imports `sparseg` for its version, and `--help` must not wait for
    # the API's imports (pydantic, onnxruntime, scipy) to load.
    if name in API_NAMES:
        return getattr(importlib.import_module("sparseg.api"), name)
    raise AttributeError(f"module 'sparseg' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *API_NAMES])
