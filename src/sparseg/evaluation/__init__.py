"""Honest evaluation: per-image metrics, every Dice convention side by side, bootstrap intervals,
and scoring of prediction folders from any tool. Scores travel typed (``summary``:
:class:`ImageScores`, :class:`VolumeScores`) and become ``metrics.json`` in ``score``."""

from sparseg.evaluation.aggregate import CONVENTIONS, aggregate, blank_verdict
from sparseg.evaluation.bootstrap import percentile_intervals
from sparseg.evaluation.metrics import image_metrics
from sparseg.evaluation.score import (
    METRICS_JSON,
    PER_IMAGE_CSV,
    score_arrays,
    score_folder,
)
from sparseg.evaluation.summary import Bootstrap, ImageScores, VolumeScores

__all__ = [
    "CONVENTIONS",
    "METRICS_JSON",
    "PER_IMAGE_CSV",
    "Bootstrap",
    "ImageScores",
    "VolumeScores",
    "aggregate",
    "blank_verdict",
    "image_metrics",
    "percentile_intervals",
    "score_arrays",
    "score_folder",
]
