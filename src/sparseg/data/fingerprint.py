"""The data set fingerprint behind ``sparseg inspect``: one streaming pass over every pair.

Memory stays flat with the data set size: each image and mask is dropped after it is counted;
only a fixed intensity histogram, one number per image and one per connected component are kept.

:func:`fingerprint` returns a :class:`Fingerprint`, one frozen dataclass per section; what each
field means is written on its class. ``sparseg inspect DATA --json`` writes
:meth:`Fingerprint.to_json` (keys as the field names, in their order) and
:meth:`Fingerprint.from_json` reads it back. px = pixels at the image's native size;
percentiles are numpy's default (linear interpolation) unless said otherwise; ``median`` is
``p50``. Counts keyed by a number (``channels``, ``bit_depth``, ``slice_axis``) have the number
as a string key, as JSON objects do.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

import numpy as np
from scipy import ndimage

from sparseg.data.discovery import Item, discover_items
from sparseg.data.io import to_unit_float
from sparseg.data.items import item_info, read_item_image, read_item_mask
from sparseg.data.volumes import read_mask_volume, volume_info
from sparseg.errors import SparsegWarning

HISTOGRAM_BINS = 4096
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
TWENTY_SIX_CONNECTED = np.ones((3, 3, 3), dtype=bool)
FEW_EMPTY_SHARE = 0.02  # up to this share of empty masks among non-empty ones looks like a mistake
LISTED_IDS = 20

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class MinMedianMax:
    """The spread of a whole-number quantity (unit given where it is used).

    Attributes:
        min: the smallest value.
        median: the median (a half-integer when the count of values is even).
        max: the largest value.
    """

    min: int
    median: float
    max: int


@dataclass(frozen=True)
class ImageSizes:
    """Image sizes as read.

    Attributes:
        counts: pairs per size, keyed ``"HxW"`` in px (e.g. ``"512x534"``), most common first.
        height: image height in px over all pairs.
        width: image width in px over all pairs.
    """

    counts: dict[str, int]
    height: MinMedianMax
    width: MinMedianMax


@dataclass(frozen=True)
class Intensity:
    """Pixel values of every image and channel, each scaled to [0, 1] (no unit).

    The percentiles come from a :data:`HISTOGRAM_BINS`-bin histogram and are bin centres
    (±1/8192); mean and std are exact.

    Attributes:
        mean: mean of all values.
        std: standard deviation of all values (population, ddof 0).
        p1: 1st percentile.
        p5: 5th percentile.
        p50: median.
        p95: 95th percentile.
        p99: 99th percentile.
    """

    mean: float
    std: float
    p1: float
    p5: float
    p50: float
    p95: float
    p99: float


@dataclass(frozen=True)
class FractionStats:
    """The spread of each mask's foreground share (foreground px / image px, in [0, 1]).

    Attributes:
        mean: mean share.
        median: median share.
        p5: 5th percentile.
        p95: 95th percentile.
        min: smallest share.
        max: largest share.
    """

    mean: float
    median: float
    p5: float
    p95: float
    min: float
    max: float


@dataclass(frozen=True)
class ForegroundFractions:
    """How much of each mask is foreground.

    Attributes:
        all: over every mask, empty ones included.
        non_empty: over masks with foreground; None when every mask is empty.
        pooled: foreground px / all px of the data set, in [0, 1].
    """

    all: FractionStats
    non_empty: FractionStats | None
    pooled: float


@dataclass(frozen=True)
class EmptyMasks:
    """Masks without foreground.

    Attributes:
        count: number of empty masks.
        share: empty masks / pairs, in [0, 1].
        ids: ids of the first :data:`LISTED_IDS` empty masks, in data set order.
    """

    count: int
    share: float
    ids: tuple[str, ...]


@dataclass(frozen=True)
class ComponentsPerMask:
    """Connected components (8-connectivity) per mask, over every mask.

    Attributes:
        mean: mean number of components per mask.
        max: most components in one mask.
    """

    mean: float
    max: int


@dataclass(frozen=True)
class AreaStats:
    """The spread of component areas, over every component of every mask (unit: where used).

    Attributes:
        median: median area.
        p5: 5th percentile.
        min: smallest area.
    """

    median: float
    p5: float
    min: float


@dataclass(frozen=True)
class Components:
    """Connected foreground components of the 2D masks (8-connectivity).

    Attributes:
        per_mask: components per mask.
        total: components in the whole data set.
        area_px: component area in px; None when no mask has foreground.
        area_fraction: component area as a share of its image's area, in [0, 1]; None when no
            mask has foreground.
        smallest_per_mask_fraction: median over non-empty masks of the smallest component's
            share of its image, in [0, 1]; None when no mask has foreground.
    """

    per_mask: ComponentsPerMask
    total: int
    area_px: AreaStats | None
    area_fraction: AreaStats | None
    smallest_per_mask_fraction: float | None


@dataclass(frozen=True)
class VolumeCase:
    """One volume (or frame stack) and its mask.

    Attributes:
        case: the case id (the items' group).
        shape: voxels per axis of the image volume.
        spacing_mm: voxel spacing per axis in mm.
        slice_axis: the axis the volume is cut along into 2D items.
        slices_kept: slices that are items of the data set.
        slices_total: slices along ``slice_axis``.
        channels: input channels of the case (channel files x samples per voxel).
        lesions: 3D lesions in the mask (26-connected components).
        lesion_ml: foreground volume of the mask in mL.
    """

    case: str
    shape: tuple[int, ...]
    spacing_mm: tuple[float, ...]
    slice_axis: int
    slices_kept: int
    slices_total: int
    channels: int
    lesions: int
    lesion_ml: float


@dataclass(frozen=True)
class LesionCounts:
    """3D lesions (26-connected components) per volume, over every case.

    Attributes:
        mean: mean lesions per volume.
        min: fewest lesions in one volume.
        max: most lesions in one volume.
    """

    mean: float
    min: int
    max: int


@dataclass(frozen=True)
class LesionVolumes:
    """One 3D lesion's volume in mL, over every lesion of every case.

    Attributes:
        median: median lesion volume.
        p5: 5th percentile.
        p95: 95th percentile.
        min: smallest lesion.
        max: largest lesion.
    """

    median: float
    p5: float
    p95: float
    min: float
    max: float


@dataclass(frozen=True)
class VolumeStats:
    """Per-case statistics of volume data and frame stacks.

    Attributes:
        n_cases: number of volumes.
        slice_axis: cases per slice axis (key: the axis).
        slices_per_case: kept slices per case.
        spacing_mm: median voxel spacing per axis in mm.
        channels: cases per channel count (key: the count).
        lesions_per_volume: 3D lesions per volume.
        lesion_volume_ml: one lesion's volume in mL; None when no case has a lesion.
        lesion_voxels_p5: 5th percentile of one lesion's size in voxels; None when no case has
            a lesion.
        empty_slice_share: kept slices without foreground / kept slices, in [0, 1].
        cases: one entry per case, sorted by case id.
    """

    n_cases: int
    slice_axis: dict[str, int]
    slices_per_case: MinMedianMax
    spacing_mm: tuple[float, ...]
    channels: dict[str, int]
    lesions_per_volume: LesionCounts
    lesion_volume_ml: LesionVolumes | None
    lesion_voxels_p5: float | None
    empty_slice_share: float
    cases: tuple[VolumeCase, ...]


@dataclass(frozen=True)
class Fingerprint:
    """Statistics of a data set of image/mask pairs, as :func:`fingerprint` measures them.

    Attributes:
        n_pairs: number of image/mask pairs (slices of volumes count one each).
        label: the ``--label`` value read as foreground from label-map masks; None: binary.
        image_size: image sizes.
        channels: pairs per channel count as read (key: the count).
        bit_depth: pairs per bits per sample (key: the bits, e.g. ``"8"``, ``"16"``).
        intensity: pixel values scaled to [0, 1].
        foreground_fraction: each mask's foreground share.
        empty_masks: masks without foreground.
        components: connected components of the 2D masks.
        volumes: per-case statistics of volume data; None for 2D data.
    """

    n_pairs: int
    label: int | None
    image_size: ImageSizes
    channels: dict[str, int]
    bit_depth: dict[str, int]
    intensity: Intensity
    foreground_fraction: ForegroundFractions
    empty_masks: EmptyMasks
    components: Components
    volumes: VolumeStats | None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types, keys the field names in field order (the ``--json`` file)."""
        return _plain(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fingerprint:
        """The fingerprint that :meth:`to_json` wrote; a missing field raises KeyError."""
        return _from_plain(cls, data)


def fingerprint(
    root: Path, label: int | None = None, progress: Progress | None = None
) -> Fingerprint:
    """Statistics of the data set at ``root`` (see :class:`Fingerprint`).

    ``progress(done, total)`` is called after each pair. Warns (:class:`SparsegWarning`) when
    every mask is empty, or when a few masks are empty in a data set that otherwise has none.
    """
    items = discover_items(Path(root))
    sizes: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    bit_depths: Counter[str] = Counter()
    heights, widths, fractions, component_counts = [], [], [], []
    areas: list[int] = []
    area_fractions: list[float] = []
    smallest_fractions: list[float] = []
    empty_ids: list[str] = []
    histogram = np.zeros(HISTOGRAM_BINS, dtype=np.int64)
    value_sum = value_square_sum = 0.0
    n_values = foreground_px = total_px = 0

    for done, item in enumerate(items, start=1):
        info = item_info(item)
        channels[str(info.channels)] += 1
        bit_depths[str(info.bit_depth)] += 1
        values = to_unit_float(read_item_image(item))
        histogram += np.bincount(_bin_indices(values), minlength=HISTOGRAM_BINS)
        value_sum += float(values.sum(dtype=np.float64))
        value_square_sum += float(np.square(values).sum(dtype=np.float64))
        n_values += values.size

        mask = read_item_mask(item, label)  # discover_items checked it matches the image
        height, width = mask.shape
        sizes[f"{height}x{width}"] += 1
        heights.append(height)
        widths.append(width)
        labelled, count = ndimage.label(mask, structure=EIGHT_CONNECTED)
        component_counts.append(count)
        foreground = int(mask.sum())
        fractions.append(foreground / mask.size)
        foreground_px += foreground
        total_px += mask.size
        if count:
            component_areas = np.bincount(labelled.ravel())[1:]
            areas.extend(component_areas.tolist())
            area_fractions.extend((component_areas / mask.size).tolist())
            smallest_fractions.append(float(component_areas.min()) / mask.size)
        else:
            empty_ids.append(item.id)
        if progress is not None:
            progress(done, len(items))

    _warn_about_empty_masks(Path(root), len(items), empty_ids)
    fraction_array = np.asarray(fractions)
    non_empty = fraction_array[fraction_array > 0]
    mean = value_sum / n_values
    return Fingerprint(
        n_pairs=len(items),
        label=label,
        image_size=ImageSizes(
            counts=dict(sizes.most_common()),
            height=_min_median_max(heights),
            width=_min_median_max(widths),
        ),
        channels=dict(sorted(channels.items())),
        bit_depth=dict(sorted(bit_depths.items())),
        intensity=Intensity(
            mean=mean,
            std=float(np.sqrt(max(value_square_sum / n_values - mean**2, 0.0))),
            **_histogram_percentiles(histogram, (1, 5, 50, 95, 99)),
        ),
        foreground_fraction=ForegroundFractions(
            all=_fraction_stats(fraction_array),
            non_empty=_fraction_stats(non_empty) if non_empty.size else None,
            pooled=foreground_px / total_px,
        ),
        empty_masks=EmptyMasks(
            count=len(empty_ids),
            share=len(empty_ids) / len(items),
            ids=tuple(empty_ids[:LISTED_IDS]),
        ),
        components=Components(
            per_mask=ComponentsPerMask(
                mean=float(np.mean(component_counts)), max=int(np.max(component_counts))
            ),
            total=int(np.sum(component_counts)),
            area_px=_area_stats(areas),
            area_fraction=_area_stats(area_fractions),
            smallest_per_mask_fraction=(
                float(np.median(smallest_fractions)) if smallest_fractions else None
            ),
        ),
        volumes=volume_fingerprint(items, label),
    )


def volume_fingerprint(items: list[Item], label: int | None) -> VolumeStats | None:
    """The per-case statistics of volume data (:attr:`Fingerprint.volumes`); None for 2D data.
    One case's mask volume is held at a time."""
    cases: dict[str, list[Item]] = {}
    for item in items:
        if item.is_slice:
            cases.setdefault(item.group, []).append(item)
    if not cases:
        return None
    rows: list[VolumeCase] = []
    lesion_ml: list[float] = []
    lesion_voxels: list[int] = []
    empty_slices = kept_slices = 0
    for case, slices in sorted(cases.items()):
        first = slices[0]
        info = volume_info(first.image)
        axis = int(first.slice_axis)  # type: ignore[arg-type]
        mask = read_mask_volume(first.mask, label)  # type: ignore[arg-type]
        labelled, count = ndimage.label(mask, structure=TWENTY_SIX_CONNECTED)
        voxels = np.bincount(labelled.ravel())[1:]
        voxel_ml = float(np.prod(info.spacing)) / 1000  # type: ignore[union-attr]
        lesion_voxels.extend(voxels.tolist())
        lesion_ml.extend((voxels * voxel_ml).tolist())
        other = tuple(a for a in range(3) if a != axis)
        has_lesion = np.any(mask, axis=other)
        empty_slices += sum(not has_lesion[int(p.slice_index)] for p in slices)  # type: ignore[arg-type]
        kept_slices += len(slices)
        rows.append(
            VolumeCase(
                case=case,
                shape=tuple(info.shape),  # type: ignore[union-attr]
                spacing_mm=tuple(info.spacing),  # type: ignore[union-attr]
                slice_axis=axis,
                slices_kept=len(slices),
                slices_total=info.shape[axis],  # type: ignore[union-attr]
                channels=item_info(first).channels,
                lesions=int(count),
                lesion_ml=float(voxels.sum() * voxel_ml),
            )
        )
    lesions = [row.lesions for row in rows]
    return VolumeStats(
        n_cases=len(rows),
        slice_axis=dict(Counter(str(row.slice_axis) for row in rows)),
        slices_per_case=_min_median_max([row.slices_kept for row in rows]),
        spacing_mm=tuple(float(np.median([row.spacing_mm[a] for row in rows])) for a in range(3)),
        channels=dict(Counter(str(row.channels) for row in rows)),
        lesions_per_volume=LesionCounts(
            mean=float(np.mean(lesions)), min=int(np.min(lesions)), max=int(np.max(lesions))
        ),
        lesion_volume_ml=(
            LesionVolumes(
                median=float(np.median(lesion_ml)),
                p5=float(np.percentile(lesion_ml, 5)),
                p95=float(np.percentile(lesion_ml, 95)),
                min=float(np.min(lesion_ml)),
                max=float(np.max(lesion_ml)),
            )
            if lesion_ml
            else None
        ),
        lesion_voxels_p5=float(np.percentile(lesion_voxels, 5)) if lesion_voxels else None,
        empty_slice_share=empty_slices / kept_slices,
        cases=tuple(rows),
    )


def _plain(value: Any) -> Any:
    """A section as plain JSON types: dataclasses as objects keyed by field in field order,
    tuples as lists."""
    if is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return dict(value)
    return value


def _from_plain(kind: Any, value: Any) -> Any:
    """``value`` (plain JSON types) as the declared type ``kind``, recursing into dataclasses,
    their optional sections and tuples, so a new field needs no reading code of its own."""
    if value is None:
        return None
    if get_origin(kind) in (Union, UnionType):
        (kind,) = (arg for arg in get_args(kind) if arg is not type(None))
    if is_dataclass(kind):
        hints = get_type_hints(kind)
        return kind(**{f.name: _from_plain(hints[f.name], value[f.name]) for f in fields(kind)})
    if get_origin(kind) is tuple:
        return tuple(_from_plain(get_args(kind)[0], item) for item in value)
    if get_origin(kind) is dict:
        return dict(value)
    return value


def _bin_indices(values: np.ndarray) -> np.ndarray:
    indices = (values.ravel() * HISTOGRAM_BINS).astype(np.int64)
    return np.minimum(indices, HISTOGRAM_BINS - 1)


def _histogram_percentiles(histogram: np.ndarray, percentiles: tuple[int, ...]) -> dict[str, float]:
    """Percentiles at bin centres: the smallest bin whose cumulative count reaches the rank."""
    cumulative = np.cumsum(histogram)
    result = {}
    for percentile in percentiles:
        rank = percentile / 100 * cumulative[-1]
        index = int(np.searchsorted(cumulative, max(rank, 1)))
        result[f"p{percentile}"] = (index + 0.5) / HISTOGRAM_BINS
    return result


def _min_median_max(values: list[int]) -> MinMedianMax:
    return MinMedianMax(
        min=int(np.min(values)), median=float(np.median(values)), max=int(np.max(values))
    )


def _fraction_stats(values: np.ndarray) -> FractionStats:
    return FractionStats(
        mean=float(values.mean()),
        median=float(np.median(values)),
        p5=float(np.percentile(values, 5)),
        p95=float(np.percentile(values, 95)),
        min=float(values.min()),
        max=float(values.max()),
    )


def _area_stats(values: Sequence[float]) -> AreaStats | None:
    if not values:
        return None
    return AreaStats(
        median=float(np.median(values)),
        p5=float(np.percentile(values, 5)),
        min=float(np.min(values)),
    )


def _warn_about_empty_masks(root: Path, n_pairs: int, empty_ids: list[str]) -> None:
    if len(empty_ids) == n_pairs:
        warnings.warn(
            f"{root}: all {n_pairs} masks are empty; nothing to learn", SparsegWarning, stacklevel=3
        )
    elif empty_ids and (len(empty_ids) == 1 or len(empty_ids) <= FEW_EMPTY_SHARE * n_pairs):
        for sample_id in empty_ids[:5]:
            warnings.warn(
                f"{sample_id}: mask is empty while all others have foreground",
                SparsegWarning,
                stacklevel=3,
            )
        if len(empty_ids) > 5:
            warnings.warn(
                f"{root}: {len(empty_ids) - 5} more empty masks ({', '.join(empty_ids[5:10])} ...)",
                SparsegWarning,
                stacklevel=3,
            )


def format_fingerprint(fp: Fingerprint) -> str:
    """A plain-text summary of a fingerprint for the terminal."""
    fractions, components = fp.foreground_fraction, fp.components
    height, width = fp.image_size.height, fp.image_size.width
    size_counts = list(fp.image_size.counts.items())
    sizes = ", ".join(f"{size}: {count}" for size, count in size_counts[:6])
    if len(size_counts) > 6:
        sizes += f", ... ({len(size_counts)} sizes)"
    intensity = fp.intensity
    percentiles = (
        ("p1", intensity.p1),
        ("p5", intensity.p5),
        ("p50", intensity.p50),
        ("p95", intensity.p95),
        ("p99", intensity.p99),
    )
    rows = [
        ("pairs", str(fp.n_pairs)),
        ("image sizes (HxW)", sizes),
        ("height", f"{height.min}-{height.max} (median {height.median:g})"),
        ("width", f"{width.min}-{width.max} (median {width.median:g})"),
        ("channels", _counts(fp.channels)),
        ("bit depth", _counts(fp.bit_depth)),
        ("intensity [0, 1]", f"mean {intensity.mean:.3f}  std {intensity.std:.3f}"),
        ("intensity percentiles", "  ".join(f"{key} {value:.3f}" for key, value in percentiles)),
        ("foreground, all", _fraction_line(fractions.all)),
        ("foreground, non-empty", _fraction_line(fractions.non_empty)),
        ("foreground, pooled", f"{fractions.pooled:.2%}"),
        ("empty masks", f"{fp.empty_masks.count} ({fp.empty_masks.share:.1%})"),
        (
            "components per mask",
            f"mean {components.per_mask.mean:.2f}  max {components.per_mask.max}  "
            f"(total {components.total})",
        ),
    ]
    area = components.area_px
    if area:
        rows.append(
            ("component area (px)", f"median {area.median:g}  p5 {area.p5:g}  min {area.min:g}")
        )
    rows += _volume_lines(fp.volumes)
    return "\n".join(f"{name:<23}{value}" for name, value in rows)


def _volume_lines(volumes: VolumeStats | None) -> list[tuple[str, str]]:
    if not volumes:
        return []
    slices, lesions = volumes.slices_per_case, volumes.lesions_per_volume
    ml = volumes.lesion_volume_ml
    spacing = " x ".join(f"{side:g}" for side in volumes.spacing_mm)
    lines = [
        ("volumes (cases)", str(volumes.n_cases)),
        ("slice axis", _counts(volumes.slice_axis)),
        ("slices per case", f"{slices.min}-{slices.max} (median {slices.median:g})"),
        ("spacing (mm)", f"{spacing} (median)"),
        ("channels per case", _counts(volumes.channels)),
        (
            "lesions per volume",
            f"mean {lesions.mean:.1f}  min {lesions.min}  max {lesions.max} (3D)",
        ),
        ("empty slices", f"{volumes.empty_slice_share:.1%} of the kept slices"),
    ]
    if ml:
        lines.append(
            (
                "lesion volume (mL)",
                f"median {ml.median:.3f}  p5 {ml.p5:.3f}  p95 {ml.p95:.3f}  max {ml.max:.2f}",
            )
        )
    for row in volumes.cases[:LISTED_IDS]:
        lines.append(
            (
                f"  {row.case}",
                f"{'x'.join(map(str, row.shape))}, {row.slices_kept}/{row.slices_total} "
                f"slices, {row.channels} channel(s), {row.lesions} lesions, "
                f"{row.lesion_ml:.2f} mL",
            )
        )
    return lines


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key}: {value}" for key, value in counts.items())


def _fraction_line(stats: FractionStats | None) -> str:
    if stats is None:
        return "none"
    quartet = " ".join(
        f"{name} {value:.2%}"
        for name, value in (
            ("mean", stats.mean),
            ("median", stats.median),
            ("p5", stats.p5),
            ("p95", stats.p95),
        )
    )
    return f"{quartet} range {stats.min * 100:.2f}-{stats.max:.2%}"
