"""The data set fingerprint behind ``sparseg inspect``: one streaming pass over every pair.

Memory stays flat with the data set size: each image and mask is dropped after it is counted;
only a fixed intensity histogram, one number per image and one per connected component are kept.

JSON fields (``sparseg inspect DATA --json``; px = pixels at the image's native size):

========================================= =========================================================
field                                     meaning
========================================= =========================================================
``n_pairs``                               number of image/mask pairs
``label``                                 ``--label`` used to read label-map masks (null: binary)
``image_size.counts``                     pairs per size, keys ``"HxW"`` (e.g. ``"512x534"``)
``image_size.height`` / ``.width``        ``min``, ``median``, ``max`` of image height / width
``channels``                              pairs per channel count as read (``"1"``, ``"3"``)
``bit_depth``                             pairs per bits per sample (``"8"``, ``"16"``, ...)
``intensity``                             ``mean``, ``std``, ``p1``, ``p5``, ``p50``, ``p95``,
                                          ``p99`` of all pixel values (every channel) in [0, 1];
                                          percentiles from a 4096-bin histogram (±1/8192)
``foreground_fraction.all``               ``mean``, ``median``, ``p5``, ``p95``, ``min``, ``max``
                                          of each mask's foreground share, over all masks
``foreground_fraction.non_empty``         the same over masks with foreground (null if none)
``foreground_fraction.pooled``            foreground pixels / all pixels of the data set
``empty_masks.count`` / ``.share``        masks without foreground: number, share of pairs
``empty_masks.ids``                       their ids (the first 20)
``components.per_mask``                   ``mean``, ``max`` connected components per mask
                                          (8-connectivity), over all masks
``components.total``                      components in the whole data set
``components.area_px``                    ``median``, ``p5``, ``min`` component area in px
                                          (null when no mask has foreground)
``components.area_fraction``              the same, as a share of the component's image area
``components.smallest_per_mask_fraction`` median over non-empty masks of the smallest
                                          component's share of its image (null: no foreground)
``volumes``                               null for 2D data; for volumes and stacks (per case):
``volumes.n_cases`` / ``.cases``          number of volumes; per case: shape, spacing_mm,
                                          slice_axis, slices_kept / slices_total, channels,
                                          lesions (26-connected 3D components), lesion_ml
``volumes.slices_per_case``               ``min``, ``median``, ``max`` kept slices per case
``volumes.spacing_mm``                    median voxel spacing per axis (mm)
``volumes.channels``                      cases per channel count (channel files x samples)
``volumes.lesions_per_volume``            ``mean``, ``min``, ``max`` 3D lesions per volume
``volumes.lesion_volume_ml``              ``median``, ``p5``, ``p95``, ``min``, ``max`` of one
                                          lesion's volume in mL (null: no lesion)
``volumes.lesion_voxels_p5``              5th percentile of lesion size in voxels
``volumes.empty_slice_share``             kept slices without foreground / kept slices
========================================= =========================================================

Percentiles are numpy's default (linear interpolation); ``median`` is ``p50``.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from sparseg.data.io import to_unit_float
from sparseg.data.items import item_info, read_item_image, read_item_mask
from sparseg.data.pairs import Pair, discover_pairs
from sparseg.data.volumes import read_mask_volume, volume_info
from sparseg.errors import SparsegWarning

HISTOGRAM_BINS = 4096
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
TWENTY_SIX_CONNECTED = np.ones((3, 3, 3), dtype=bool)
FEW_EMPTY_SHARE = 0.02  # up to this share of empty masks among non-empty ones looks like a mistake
LISTED_IDS = 20

Progress = Callable[[int, int], None]


def fingerprint(root: Path, label: int | None = None, progress: Progress | None = None) -> dict:
    """Statistics of the data set at ``root`` (fields in the module docstring).

    ``progress(done, total)`` is called after each pair. Warns (:class:`SparsegWarning`) when
    every mask is empty, or when a few masks are empty in a data set that otherwise has none.
    """
    pairs = discover_pairs(Path(root))
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

    for done, pair in enumerate(pairs, start=1):
        info = item_info(pair)
        channels[str(info.channels)] += 1
        bit_depths[str(info.bit_depth)] += 1
        values = to_unit_float(read_item_image(pair))
        histogram += np.bincount(_bin_indices(values), minlength=HISTOGRAM_BINS)
        value_sum += float(values.sum(dtype=np.float64))
        value_square_sum += float(np.square(values).sum(dtype=np.float64))
        n_values += values.size

        mask = read_item_mask(pair, label)  # discover_pairs checked it matches the image
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
            empty_ids.append(pair.id)
        if progress is not None:
            progress(done, len(pairs))

    _warn_about_empty_masks(Path(root), len(pairs), empty_ids)
    fraction_array = np.asarray(fractions)
    non_empty = fraction_array[fraction_array > 0]
    mean = value_sum / n_values
    return {
        "n_pairs": len(pairs),
        "label": label,
        "image_size": {
            "counts": dict(sizes.most_common()),
            "height": _min_median_max(heights),
            "width": _min_median_max(widths),
        },
        "channels": dict(sorted(channels.items())),
        "bit_depth": dict(sorted(bit_depths.items())),
        "intensity": {
            "mean": mean,
            "std": float(np.sqrt(max(value_square_sum / n_values - mean**2, 0.0))),
            **_histogram_percentiles(histogram, (1, 5, 50, 95, 99)),
        },
        "foreground_fraction": {
            "all": _fraction_stats(fraction_array),
            "non_empty": _fraction_stats(non_empty) if non_empty.size else None,
            "pooled": foreground_px / total_px,
        },
        "empty_masks": {
            "count": len(empty_ids),
            "share": len(empty_ids) / len(pairs),
            "ids": empty_ids[:LISTED_IDS],
        },
        "components": {
            "per_mask": {
                "mean": float(np.mean(component_counts)),
                "max": int(np.max(component_counts)),
            },
            "total": int(np.sum(component_counts)),
            "area_px": _area_stats(areas),
            "area_fraction": _area_stats(area_fractions),
            "smallest_per_mask_fraction": (
                float(np.median(smallest_fractions)) if smallest_fractions else None
            ),
        },
        "volumes": volume_fingerprint(pairs, label),
    }


def volume_fingerprint(pairs: list[Pair], label: int | None) -> dict | None:
    """The per-case statistics of volume data (``volumes.*`` fields); None for 2D data.
    One case's mask volume is held at a time."""
    cases: dict[str, list[Pair]] = {}
    for pair in pairs:
        if pair.is_slice:
            cases.setdefault(pair.group, []).append(pair)
    if not cases:
        return None
    rows, lesion_ml, lesion_voxels = [], [], []
    empty_slices = kept_slices = 0
    for case, items in sorted(cases.items()):
        first = items[0]
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
        empty_slices += sum(not has_lesion[int(p.slice_index)] for p in items)  # type: ignore[arg-type]
        kept_slices += len(items)
        rows.append(
            {
                "case": case,
                "shape": list(info.shape),  # type: ignore[union-attr]
                "spacing_mm": list(info.spacing),  # type: ignore[union-attr]
                "slice_axis": axis,
                "slices_kept": len(items),
                "slices_total": info.shape[axis],  # type: ignore[union-attr]
                "channels": item_info(first).channels,
                "lesions": int(count),
                "lesion_ml": float(voxels.sum() * voxel_ml),
            }
        )
    lesions = [row["lesions"] for row in rows]
    return {
        "n_cases": len(rows),
        "slice_axis": dict(Counter(str(row["slice_axis"]) for row in rows)),
        "slices_per_case": _min_median_max([row["slices_kept"] for row in rows]),
        "spacing_mm": [float(np.median([row["spacing_mm"][a] for row in rows])) for a in range(3)],
        "channels": dict(Counter(str(row["channels"]) for row in rows)),
        "lesions_per_volume": {
            "mean": float(np.mean(lesions)),
            "min": int(np.min(lesions)),
            "max": int(np.max(lesions)),
        },
        "lesion_volume_ml": (
            {
                "median": float(np.median(lesion_ml)),
                "p5": float(np.percentile(lesion_ml, 5)),
                "p95": float(np.percentile(lesion_ml, 95)),
                "min": float(np.min(lesion_ml)),
                "max": float(np.max(lesion_ml)),
            }
            if lesion_ml
            else None
        ),
        "lesion_voxels_p5": float(np.percentile(lesion_voxels, 5)) if lesion_voxels else None,
        "empty_slice_share": empty_slices / kept_slices,
        "cases": rows,
    }


def _bin_indices(values: np.ndarray) -> np.ndarray:
    indices = (values.ravel() * HISTOGRAM_BINS).astype(np.int64)
    return np.minimum(indices, HISTOGRAM_BINS - 1)


def _histogram_percentiles(histogram: np.ndarray, percentiles: tuple[int, ...]) -> dict:
    """Percentiles at bin centres: the smallest bin whose cumulative count reaches the rank."""
    cumulative = np.cumsum(histogram)
    result = {}
    for percentile in percentiles:
        rank = percentile / 100 * cumulative[-1]
        index = int(np.searchsorted(cumulative, max(rank, 1)))
        result[f"p{percentile}"] = (index + 0.5) / HISTOGRAM_BINS
    return result


def _min_median_max(values: list[int]) -> dict:
    return {
        "min": int(np.min(values)),
        "median": float(np.median(values)),
        "max": int(np.max(values)),
    }


def _fraction_stats(values: np.ndarray) -> dict:
    return {
        "mean": float(values.mean()),
        "median": float(np.median(values)),
        "p5": float(np.percentile(values, 5)),
        "p95": float(np.percentile(values, 95)),
        "min": float(values.min()),
        "max": float(values.max()),
    }


def _area_stats(values: list[float]) -> dict | None:
    if not values:
        return None
    return {
        "median": float(np.median(values)),
        "p5": float(np.percentile(values, 5)),
        "min": float(np.min(values)),
    }


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


def format_fingerprint(fp: dict[str, Any]) -> str:
    """A plain-text summary of a fingerprint for the terminal."""
    fractions, components = fp["foreground_fraction"], fp["components"]
    height, width = fp["image_size"]["height"], fp["image_size"]["width"]
    size_counts = list(fp["image_size"]["counts"].items())
    sizes = ", ".join(f"{size}: {count}" for size, count in size_counts[:6])
    if len(size_counts) > 6:
        sizes += f", ... ({len(size_counts)} sizes)"
    intensity = fp["intensity"]
    percentiles = ("p1", "p5", "p50", "p95", "p99")
    rows = [
        ("pairs", str(fp["n_pairs"])),
        ("image sizes (HxW)", sizes),
        ("height", f"{height['min']}-{height['max']} (median {height['median']:g})"),
        ("width", f"{width['min']}-{width['max']} (median {width['median']:g})"),
        ("channels", _counts(fp["channels"])),
        ("bit depth", _counts(fp["bit_depth"])),
        ("intensity [0, 1]", f"mean {intensity['mean']:.3f}  std {intensity['std']:.3f}"),
        ("intensity percentiles", "  ".join(f"{k} {intensity[k]:.3f}" for k in percentiles)),
        ("foreground, all", _fraction_line(fractions["all"])),
        ("foreground, non-empty", _fraction_line(fractions["non_empty"])),
        ("foreground, pooled", f"{fractions['pooled']:.2%}"),
        ("empty masks", f"{fp['empty_masks']['count']} ({fp['empty_masks']['share']:.1%})"),
        (
            "components per mask",
            f"mean {components['per_mask']['mean']:.2f}  max {components['per_mask']['max']}  "
            f"(total {components['total']})",
        ),
    ]
    area = components["area_px"]
    if area:
        rows.append(
            (
                "component area (px)",
                f"median {area['median']:g}  p5 {area['p5']:g}  min {area['min']:g}",
            )
        )
    rows += _volume_lines(fp.get("volumes"))
    return "\n".join(f"{name:<23}{value}" for name, value in rows)


def _volume_lines(volumes: dict | None) -> list[tuple[str, str]]:
    if not volumes:
        return []
    slices, lesions = volumes["slices_per_case"], volumes["lesions_per_volume"]
    ml = volumes["lesion_volume_ml"]
    spacing = " x ".join(f"{side:g}" for side in volumes["spacing_mm"])
    lines = [
        ("volumes (cases)", str(volumes["n_cases"])),
        ("slice axis", _counts(volumes["slice_axis"])),
        ("slices per case", f"{slices['min']}-{slices['max']} (median {slices['median']:g})"),
        ("spacing (mm)", f"{spacing} (median)"),
        ("channels per case", _counts(volumes["channels"])),
        (
            "lesions per volume",
            f"mean {lesions['mean']:.1f}  min {lesions['min']}  max {lesions['max']} (3D)",
        ),
        ("empty slices", f"{volumes['empty_slice_share']:.1%} of the kept slices"),
    ]
    if ml:
        lines.append(
            (
                "lesion volume (mL)",
                f"median {ml['median']:.3f}  p5 {ml['p5']:.3f}  p95 {ml['p95']:.3f}  "
                f"max {ml['max']:.2f}",
            )
        )
    for row in volumes["cases"][:LISTED_IDS]:
        lines.append(
            (
                f"  {row['case']}",
                f"{'x'.join(map(str, row['shape']))}, {row['slices_kept']}/{row['slices_total']} "
                f"slices, {row['channels']} channel(s), {row['lesions']} lesions, "
                f"{row['lesion_ml']:.2f} mL",
            )
        )
    return lines


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key}: {value}" for key, value in counts.items())


def _fraction_line(stats: dict | None) -> str:
    if stats is None:
        return "none"
    quartet = " ".join(f"{key} {stats[key]:.2%}" for key in ("mean", "median", "p5", "p95"))
    return f"{quartet} range {stats['min'] * 100:.2f}-{stats['max']:.2%}"
