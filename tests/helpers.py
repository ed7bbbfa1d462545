"""Helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

TINY_OVERRIDES = [
    "data.input_size=[64, 64]",
    "model.encoder=resnet18",
    "training.batch_size=4",
    "training.max_epochs=2",
    "training.patience=null",
    "training.optimizer=adamw",
    "training.lr=0.001",
    "training.precision=32-true",
    "training.accelerator=cpu",
    "evaluation.bootstrap=50",
]


def tiny_config(*overrides: str):
    """Defaults shrunk for tests, plus ``overrides`` (section.key=value strings)."""
    from sparseg.config import load_config

    return load_config(None, [*TINY_OVERRIDES, *overrides])
