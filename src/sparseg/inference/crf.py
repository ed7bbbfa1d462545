"""Dense-CRF refinement (Krähenbühl & Koltun) of a foreground probability map with pydensecrf."""

from __future__ import annotations

import numpy as np
import pydensecrf.densecrf as dcrf
from pydensecrf.utils import unary_from_softmax

from sparseg.config import CrfConfig
from sparseg.errors import SparsegError

PROBABILITY_CLIP = 1e-5  # keeps -log(p) finite in the unary


def image_to_uint8_rgb(image: np.ndarray) -> np.ndarray:
    """The bilateral term's reference image: C-contiguous ``uint8 (H, W, 3)``.

    Gray ``(H, W)`` / ``(H, W, 1)`` is repeated to 3 channels, other channel counts than 3 are
    averaged to gray. uint8 stays as is; float in [0, 1] is scaled by 255, any other float range
    (e.g. z-scored) is min-max scaled first, so ``bilateral_srgb`` is always in 0-255 intensity.
    """
    if image.ndim == 3 and image.shape[2] != 3:
        image = image.mean(axis=2, dtype=np.float64)
    if image.dtype != np.uint8:
        values = image.astype(np.float64)
        low, high = float(values.min()), float(values.max())
        if low < 0.0 or high > 1.0:
            values = (values - low) / (high - low) if high > low else np.zeros_like(values)
        image = np.rint(values * 255.0).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image)


def crf_refine(image: np.ndarray, probability: np.ndarray, cfg: CrfConfig) -> np.ndarray:
    """Boolean ``(H, W)`` mask: the CRF's most likely labelling after ``cfg.iterations`` steps.

    Unary: ``-log`` of ``[1 - p, p]``; pairwise: a Gaussian smoothness term and a bilateral
    (position + intensity) term, with the ``cfg`` parameters. It runs whatever ``cfg.enabled``
    says: the caller decides whether to refine.
    """
    height, width = probability.shape
    if image.shape[:2] != (height, width):
        raise SparsegError(
            f"crf: image of size {image.shape[:2]} does not match probabilities {(height, width)}"
        )
    foreground = np.clip(probability.astype(np.float32), PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP)
    crf = dcrf.DenseCRF2D(width, height, 2)
    unary = unary_from_softmax(np.stack([1.0 - foreground, foreground]))
    crf.setUnaryEnergy(np.ascontiguousarray(unary))
    crf.addPairwiseGaussian(sxy=cfg.gaussian_sxy, compat=cfg.gaussian_compat)
    crf.addPairwiseBilateral(
        sxy=cfg.bilateral_sxy,
        srgb=cfg.bilateral_srgb,
        rgbim=image_to_uint8_rgb(image),
        compat=cfg.bilateral_compat,
    )
    marginals = np.asarray(crf.inference(cfg.iterations)).reshape(2, height, width)
    return marginals[1] > marginals[0]
