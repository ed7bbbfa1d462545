"""The typed figures of one scoring: :class:`ImageScores` over images (or slices) and
:class:`VolumeScores` over volumes, as the scoring steps hand them on; ``to_json`` gives the
``metrics.json`` payload (see :mod:`sparseg.evaluation.aggregate` for the conventions)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

Interval = tuple[float, float]


@dataclass(frozen=True)
class Bootstrap:
    """How the intervals in :attr:`ImageScores.ci` were drawn (``resamples`` 0: none)."""

    resamples: int
    seed: int
    confidence: float


@dataclass(frozen=True)
class ImageScores:
    """Per-image metrics summarised over images, every Dice/IoU convention side by side.

    Precision, recall and specificity come ``_pooled`` (from summed counts) and ``_per_image``
    (mean over the images where defined). Surface distances (``hd95``/``assd``, ``_mm`` with a
    spacing: mean over images where both masks are non-empty, and that count) and objects
    (pooled over all objects) are None when the rows did not carry them (``full=False``).
    ``blank`` is :func:`~sparseg.evaluation.aggregate.blank_verdict`'s; ``ci`` maps a figure
    to its percentile-bootstrap interval over images (``nan`` without resamples).
    """

    n_images: int
    n_empty_truth: int
    n_empty_pred: int
    n_empty_both: int
    dice_per_image_empty_is_one: float
    dice_nonempty_truth: float
    dice_ignore_empty: float
    dice_pooled: float
    iou_per_image_empty_is_one: float
    iou_nonempty_truth: float
    iou_ignore_empty: float
    iou_pooled: float
    precision_pooled: float
    precision_per_image: float
    recall_pooled: float
    recall_per_image: float
    specificity_pooled: float
    specificity_per_image: float
    blank: str | None
    ci: dict[str, Interval]
    bootstrap: Bootstrap
    hd95_mean: float | None = None
    hd95_count: int | None = None
    assd_mean: float | None = None
    assd_count: int | None = None
    hd95_mm_mean: float | None = None
    hd95_mm_count: int | None = None
    assd_mm_mean: float | None = None
    assd_mm_count: int | None = None
    n_true_objects: int | None = None
    n_pred_objects: int | None = None
    object_tp: int | None = None
    object_precision: float | None = None
    object_recall: float | None = None
    object_f1: float | None = None

    def figure(self, name: str) -> float:
        """The figure called ``name`` (e.g. ``run_layout.HEADLINE_METRIC``)."""
        if name not in _FIGURES:
            raise KeyError(f"no figure {name!r} in image scores")
        value = getattr(self, name)
        if value is None:
            raise KeyError(f"{name!r} was not computed (scored without surface distances/objects)")
        return float(value)

    def to_json(self) -> dict[str, Any]:
        """The ``metrics.json`` figures: figures not computed are left out, intervals as lists."""
        payload = {
            name: value
            for name, value in asdict(self).items()
            if value is not None or name == "blank"
        }
        payload["ci"] = {name: list(interval) for name, interval in self.ci.items()}
        return payload


_FIGURES = {
    field.name for field in fields(ImageScores) if field.name not in ("blank", "ci", "bootstrap")
}


@dataclass(frozen=True)
class VolumeScores:
    """Volume data scored in 3D: means over volumes (``nan`` where no volume defines one),
    pooled Dice and lesion-wise figures pooled over all volumes' lesions, how lesions were
    matched, and one row per volume (``metrics_per_volume.csv``)."""

    n_volumes: int
    dice_3d_mean: float
    dice_3d_pooled: float
    lesion_f1_mean: float
    lesion_precision_pooled: float
    lesion_recall_pooled: float
    lesion_f1_pooled: float
    hd95_mm_mean: float
    assd_mm_mean: float
    abs_volume_diff_ml_mean: float
    n_lesions: int
    n_pred_lesions: int
    lesion_matching: str
    per_volume: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        """The ``volumes`` entry of ``metrics.json``."""
        return asdict(self)
