"""The configurations sparseg ships (``configs/*.yaml`` in a clone links to these files), found
by name so that ``--config budget`` works wherever sparseg is installed."""

from __future__ import annotations

from pathlib import Path

PRESET_DIR = Path(__file__).parent
PRESET_NAMES = tuple(sorted(path.stem for path in PRESET_DIR.glob("*.yaml")))


def preset_path(name: str) -> Path:
    """The shipped file of preset ``name`` (one of :data:`PRESET_NAMES`)."""
    return PRESET_DIR / f"{name}.yaml"
