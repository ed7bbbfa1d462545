"""Ultrasound-like images with small-target masks: the project's built-in data set.

Each image is rendered as a B-mode scan: a tissue reflectivity map (layered bands with fascia
lines, muscle striations, vessels with posterior enhancement, strong reflectors casting acoustic
shadows), nerve-like targets (hyper-echoic honeycomb: bright epineurium around dark fascicles;
or hypo-echoic with a bright rim), depth attenuation, spatially correlated multiplicative Rayleigh
speckle and log compression. Frames come in "subjects" of ~10 that share one anatomy (ids
``subj03_0034``), so grouped splits (``--group-regex '^(subj\\d+)_'``) can be demonstrated.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from sparseg.data.discovery import discover_items
from sparseg.data.io import read_image, read_mask, to_unit_float
from sparseg.errors import SparsegError
from sparseg.io_utils import atomic_write, atomic_write_text

FRAMES_PER_SUBJECT = 10
MIN_TARGET_PX = 4
DYNAMIC_RANGE_DB = 50.0
GROUP_REGEX = r"^(subj\d+)_"


def synthesize(
    out: Path,
    n: int = 200,
    size: tuple[int, int] = (256, 256),
    fg: float = 0.005,
    empty: float = 0.3,
    seed: int = 0,
) -> list[str]:
    """Write ``out/images/<id>.png`` (8-bit gray) and ``out/masks/<id>.png`` (0/255); return ids.

    ``fg`` is the mean foreground fraction over the non-empty images, ``empty`` the share of images
    whose mask is empty (exactly ``round(n * empty)`` of them). Same arguments, same bytes.

    Example:
        >>> ids = synthesize(Path("syn"), n=20, size=(128, 128), fg=0.01, empty=0.25, seed=1)
    """
    height, width = _check_arguments(n, size, fg, empty)
    out = Path(out)
    rng = np.random.default_rng([seed, 3])  # tags keep the streams apart
    n_empty = round(n * empty)
    is_empty = np.zeros(n, dtype=bool)
    is_empty[rng.permutation(n)[:n_empty]] = True
    fractions = np.zeros(n)
    fractions[~is_empty] = _foreground_fractions(rng, n - n_empty, fg)

    n_subjects = math.ceil(n / FRAMES_PER_SUBJECT)
    digits = max(2, len(str(n_subjects - 1)))
    ids = []
    for subject in range(n_subjects):
        scene = _subject_scene(np.random.default_rng([seed, 1, subject]), height, width)
        first = subject * FRAMES_PER_SUBJECT
        for index in range(first, min(first + FRAMES_PER_SUBJECT, n)):
            frame_rng = np.random.default_rng([seed, 2, index])
            target_px = max(round(fractions[index] * height * width), MIN_TARGET_PX)
            image, mask = _render_frame(scene, frame_rng, 0 if is_empty[index] else target_px)
            sample_id = f"subj{subject:0{digits}d}_{index:04d}"
            _write_png(out / "images" / f"{sample_id}.png", image)
            _write_png(out / "masks" / f"{sample_id}.png", mask.astype(np.uint8) * 255)
            ids.append(sample_id)
    atomic_write_text(out / "SOURCE.md", _source_text(n, height, width, fg, empty, seed, n_empty))
    return ids


def render_preview(data_dir: Path, out_png: Path, n: int = 16, seed: int = 0) -> Path:
    """Write a PNG grid of ``n`` seeded random samples of ``data_dir`` with mask contours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = discover_items(Path(data_dir))
    chosen = np.sort(np.random.default_rng([seed, 4]).permutation(len(items))[: max(1, n)])
    columns = math.ceil(math.sqrt(len(chosen)))
    rows = math.ceil(len(chosen) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 2.5 * rows), squeeze=False)
    for axis in axes.ravel():
        axis.set_axis_off()
    for axis, index in zip(axes.ravel(), chosen, strict=False):
        item = items[index]
        image = to_unit_float(read_image(item.image))
        axis.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=1)
        mask = read_mask(item.mask)
        if mask.any():
            axis.contour(mask, levels=[0.5], colors="#ffb000", linewidths=0.8)
        axis.set_title(f"{item.id} ({mask.mean():.2%})", fontsize=7)
    figure.tight_layout()
    out_png = Path(out_png)
    atomic_write(out_png, lambda tmp: figure.savefig(tmp, format="png", dpi=110))
    plt.close(figure)
    return out_png


def _check_arguments(n: int, size: tuple[int, int], fg: float, empty: float) -> tuple[int, int]:
    if n < 1:
        raise SparsegError(f"--n {n}: need at least one image")
    if len(size) != 2 or min(size) < 16:
        raise SparsegError(f"--size {size}: height and width must be at least 16 pixels")
    if not 0.0 < fg <= 0.25:
        raise SparsegError(f"--fg {fg}: foreground fraction must lie in (0, 0.25]")
    if not 0.0 <= empty <= 1.0:
        raise SparsegError(f"--empty {empty}: share of empty images must lie in [0, 1]")
    return int(size[0]), int(size[1])


def _foreground_fractions(rng: np.random.Generator, count: int, mean: float) -> np.ndarray:
    """Per-image fractions that vary (log-normal) but average exactly ``mean``."""
    if count == 0:
        return np.zeros(0)
    weights = rng.lognormal(0.0, 0.5, count)
    return mean * weights / weights.mean()


def _decibels(level: float | np.ndarray) -> np.ndarray:
    """Echo power from a level in dB (0 dB is the brightest display value)."""
    return np.power(10.0, np.asarray(level) / 10.0)


def _random_anatomy(rng: np.random.Generator) -> dict:
    """Numbers describing one subject's anatomy, in units of the frame height/width."""
    n_boundaries = int(rng.integers(3, 6))
    return {
        "skin": rng.uniform(0.02, 0.05),
        "depths": np.sort(rng.uniform(0.1, 0.85, n_boundaries)),
        "band_levels": _decibels(rng.uniform(-40, -28, n_boundaries + 1)),
        "band_striated": rng.random(n_boundaries + 1) < 0.6,
        "wave_amplitude": rng.uniform(0.01, 0.04, n_boundaries),
        "wave_frequency": rng.uniform(0.5, 2.0, n_boundaries),
        "wave_phase": rng.uniform(0, 2 * np.pi, n_boundaries),
        "attenuation": rng.uniform(1.0, 2.5),
        "reflectors": [
            (rng.uniform(0.0, 0.6), rng.uniform(0.25, 0.6), rng.uniform(0.6, 0.92))
            for _ in range(int(rng.integers(0, 3)))
        ],
        "vessels": [
            (rng.uniform(0.15, 0.85), rng.uniform(0.25, 0.7), rng.uniform(0.03, 0.07))
            for _ in range(int(rng.integers(0, 3)))
        ],
        "target_centre": (rng.uniform(0.25, 0.75), rng.uniform(0.3, 0.7)),
        "target_kind": "hypoechoic" if rng.random() < 0.4 else "honeycomb",
    }


def _subject_scene(rng: np.random.Generator, height: int, width: int) -> dict:
    """One subject's echo map, rendered once on a canvas a little larger than a frame.

    Frames are crops at small probe shifts: they share tissue, vessels and shadows (as frames of
    one scan do), and the costly texture filtering runs once per subject, not per frame.
    """
    anatomy = _random_anatomy(rng)
    pad = max(2, round(0.03 * max(height, width)))
    rows, cols = np.mgrid[-pad : height + pad, -pad : width + pad].astype(np.float32)
    depth, lateral = rows / height, cols / width

    reflectivity = _tissue(anatomy, rng, depth, lateral, height)
    surface, shadow = _reflectors(anatomy, depth, lateral, height)
    occupied = (surface > 0.05) | (shadow > 0.05) | (depth < anatomy["skin"] + 0.03)
    for x, y, radius in anatomy["vessels"]:
        distance = _ellipse_distance(
            cols, rows, x * width, y * height, radius * height, radius * height * 0.8, 0.0
        )
        below = (depth > y) & (np.abs(cols - x * width) < radius * height)
        reflectivity *= np.where(below, 2.0, 1.0)  # posterior acoustic enhancement
        reflectivity = np.where(distance <= 1.0, _decibels(-65.0), reflectivity)
        occupied |= distance <= 1.3
    reflectivity = (reflectivity + _decibels(-2.0) * surface) * (1 - 0.97 * shadow)
    frame_depth = np.arange(height, dtype=np.float32)[:, None] / height
    return {
        "reflectivity": reflectivity.astype(np.float32),
        "occupied": occupied,
        "pad": pad,
        "size": (height, width),
        "attenuation": np.exp(-anatomy["attenuation"] * frame_depth),
        "target_centre": anatomy["target_centre"],
        "target_kind": anatomy["target_kind"],
    }


def _render_frame(
    scene: dict, rng: np.random.Generator, target_px: int
) -> tuple[np.ndarray, np.ndarray]:
    height, width = scene["size"]
    top, left = rng.integers(0, 2 * scene["pad"] + 1, 2)  # the probe moves between frames
    window = np.s_[top : top + height, left : left + width]
    occupied = scene["occupied"][window].copy()
    occupied[[0, -1], :] = occupied[:, [0, -1]] = True
    mask = _targets(scene, rng, target_px, occupied)
    reflectivity = _paint_targets(scene["reflectivity"][window], mask, scene["target_kind"], rng)
    return _bmode(reflectivity * scene["attenuation"], rng), mask


def _tissue(anatomy: dict, rng, depth: np.ndarray, lateral: np.ndarray, height: int):
    """Layered bands, bright fascia at their boundaries, muscle fibre streaks or fat blotches."""
    band = np.zeros(depth.shape, dtype=np.int64)
    fascia = np.zeros(depth.shape, dtype=np.float32)
    for k, level in enumerate(anatomy["depths"]):
        wave = anatomy["wave_amplitude"][k] * np.sin(
            2 * np.pi * anatomy["wave_frequency"][k] * lateral + anatomy["wave_phase"][k]
        )
        offset = (depth - level - wave) * height
        band += offset > 0
        fascia += np.exp(-0.5 * offset**2)
    fibres = _unit_noise(rng, depth.shape, (0.6, 7.0))
    blotches = _unit_noise(rng, depth.shape, (3.0, 4.0))
    texture = np.where(
        anatomy["band_striated"][band],
        1 + 12 * np.maximum(fibres - 1.3, 0),  # sparse bright fibre streaks
        np.exp(0.6 * blotches),
    )
    broken = np.exp(1.8 * _unit_noise(rng, depth.shape, (2.0, 12.0)))  # fascia fade in and out
    reflectivity = anatomy["band_levels"][band] * texture + _decibels(-15.0) * fascia * broken
    skin = _decibels(-12.0) * np.exp(0.5 * blotches)
    return np.where(depth < anatomy["skin"], skin, reflectivity)


def _unit_noise(rng: np.random.Generator, shape: tuple[int, int], sigma) -> np.ndarray:
    noise = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma)
    return noise / (noise.std() + 1e-12)


def _ellipse_distance(x, y, cx, cy, a, b, angle):
    """Normalised elliptic distance (1 on the outline) of every pixel from a centre."""
    cos, sin = math.cos(angle), math.sin(angle)
    u, v = (x - cx) * cos + (y - cy) * sin, -(x - cx) * sin + (y - cy) * cos
    return np.sqrt((u / a) ** 2 + (v / b) ** 2)


def _targets(scene, rng, target_px, occupied) -> np.ndarray:
    """Round/oval lobulated targets, non-overlapping, with exactly ``target_px`` pixels in all."""
    height, width = scene["size"]
    mask = np.zeros((height, width), dtype=bool)
    if target_px == 0:
        return mask
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    count = int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1]))
    count = max(1, min(count, target_px // MIN_TARGET_PX))
    shares = rng.dirichlet(np.full(count, 4.0))
    areas = np.maximum(np.floor(shares * target_px).astype(int), MIN_TARGET_PX)
    areas[0] += target_px - areas.sum()
    centre_x, centre_y = scene["target_centre"]
    for area in areas:
        aspect = rng.uniform(1.0, 1.8)
        radius = math.sqrt(area / math.pi)
        a, b = radius * math.sqrt(aspect), radius / math.sqrt(aspect)
        taken = occupied | mask
        reach = math.ceil(a) + 2
        for _ in range(20):
            cx = (centre_x + rng.normal(0, 0.12)) * width
            cy = (centre_y + rng.normal(0, 0.1)) * height
            row, col = int(cy), int(cx)
            inside = reach <= row < height - reach and reach <= col < width - reach
            if (
                inside
                and not taken[row - reach : row + reach + 1, col - reach : col + reach + 1].any()
            ):
                break
        else:  # crowded frame: the freest spot
            clearance = ndimage.distance_transform_edt(~taken)
            cy, cx = np.unravel_index(np.argmax(clearance), clearance.shape)
        distance = _ellipse_distance(x, y, cx, cy, a, b, rng.uniform(0, np.pi))
        lobes = 1 + 0.08 * np.sin(int(rng.integers(3, 7)) * np.arctan2(y - cy, x - cx))
        distance = np.where(occupied | mask, np.inf, distance * lobes)
        # the `area` nearest pixels: an exact area, whatever the rasterisation of the ellipse
        nearest = np.argpartition(distance.ravel(), area - 1)[:area]
        mask.flat[nearest] = True
        occupied = occupied | ndimage.binary_dilation(mask, iterations=2)
    return mask


def _paint_targets(reflectivity, mask, kind, rng) -> np.ndarray:
    """Nerve-like echo texture inside the mask: ~10 dB of contrast, about two speckle SDs."""
    if not mask.any():
        return reflectivity
    radius = math.sqrt(mask.sum() / math.pi)
    interior = ndimage.binary_erosion(mask, iterations=max(1, round(radius / 6)))  # the rim
    fascicles = _unit_noise(rng, mask.shape, 1.3) > 0.3
    if kind == "honeycomb":  # bright epineurium matrix with dark fascicles
        inside = np.where(fascicles, _decibels(-2.0), _decibels(10.0))
        rim = _decibels(12.0)
    else:  # hypo-echoic nerve with a bright rim
        inside = np.where(fascicles, _decibels(-14.0), _decibels(-8.0))
        rim = _decibels(10.0)
    factor = np.where(interior, inside, np.where(mask, rim, 1.0))
    return reflectivity * ndimage.gaussian_filter(factor, 0.6)


def _reflectors(anatomy, depth, lateral, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Bright curved reflectors (bone, calcification) and the acoustic shadow beneath them."""
    surface = np.zeros(depth.shape)
    shadow = np.zeros(depth.shape)
    for start, span, level in anatomy["reflectors"]:
        centre = start + span / 2
        arc = level + 0.08 * ((lateral - centre) / (span / 2)) ** 2
        within = np.abs(lateral - centre) < span / 2
        offset = (depth - arc) * height
        surface += np.where(within, np.exp(-0.5 * (offset / 1.5) ** 2), 0.0)
        below = ndimage.gaussian_filter((within & (offset > 2)).astype(np.float32), (1.0, 3.0))
        shadow = np.maximum(shadow, below)
    return surface, shadow


def _bmode(reflectivity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Correlated Rayleigh speckle on the echo amplitude, then log compression to 8 bits."""
    noise = rng.standard_normal((2, *reflectivity.shape), dtype=np.float32)
    real, imaginary = ndimage.gaussian_filter(noise, (0, 0.7, 1.4))
    speckle = np.hypot(real, imaginary)  # Rayleigh-distributed magnitude of a complex Gaussian
    amplitude = np.sqrt(reflectivity) * speckle / speckle.mean()
    display = np.clip(1 + 20 * np.log10(np.maximum(amplitude, 1e-9)) / DYNAMIC_RANGE_DB, 0, 1)
    return np.round(display * 255).astype(np.uint8)


def _write_png(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda tmp: Image.fromarray(array).save(tmp, format="PNG", compress_level=1))


def _source_text(n, height, width, fg, empty, seed, n_empty) -> str:
    return f"""# Synthetic ultrasound (sparseg synth)

Generated by `sparseg.data.synthetic.synthesize`; no real patient data.

| parameter | value |
|---|---|
| images | {n} ({n_empty} with empty masks, `--empty {empty}`) |
| size (H x W) | {height} x {width} |
| mean foreground fraction of non-empty images | {fg} |
| seed | {seed} |
| frames per subject | {FRAMES_PER_SUBJECT} (group regex `{GROUP_REGEX}`) |

Each image: layered tissue bands with bright fascia, muscle striation, depth attenuation,
anechoic vessels with posterior enhancement, strong reflectors with acoustic shadows,
multiplicative Rayleigh speckle, {DYNAMIC_RANGE_DB:.0f} dB log compression. Targets (the mask):
1-3 round/oval lobulated objects per non-empty image, ~10 dB from their surroundings: a
hyper-echoic honeycomb (bright epineurium, dark fascicles) or hypo-echoic with a bright rim (one
kind per subject). Masks are 8-bit PNG, 0 = background, 255 = target.
"""
