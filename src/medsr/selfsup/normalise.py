"""The foreground mask for self-supervised fitting (where training patches are centred).

It is :func:`medsr.mask.foreground_mask` when that succeeds, else an Otsu threshold.
Intensities are scaled with :class:`medsr.intensity.Normalizer` (percentile mode, exact inverse).

Example:
    >>> import numpy as np
    >>> v = np.r_[np.zeros(500), np.ones(500)]
    >>> 0.0 < otsu_threshold(v) < 1.0
    True
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from medsr.image import Image

log = logging.getLogger(__name__)


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold (IEEE SMC 1979) of a 1D sample."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    hist, edges = np.histogram(v, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres)
    mu0 = m0 / np.maximum(w0, 1)
    mu1 = (m0[-1] - m0) / np.maximum(w1, 1)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return float(centres[int(np.argmax(between))])


def foreground(image: Image) -> np.ndarray:
    """Boolean foreground ``(X, Y, Z)`` of a one-channel image; never empty.

    Uses :func:`medsr.mask.foreground_mask` (modality-aware: CT body above -500 HU, else
    10 % of the robust range); an Otsu threshold if that fails.
    """
    vol = np.asarray(image.data[0])
    try:
        from medsr.mask import foreground_mask

        mask = np.asarray(foreground_mask(image), dtype=bool)
        if mask.shape == vol.shape and mask.any():
            return mask
    except Exception as exc:  # noqa: BLE001 - a failed mask only means patches come from anywhere
        log.info("foreground_mask failed (%s); using an Otsu threshold", exc)
    sub = vol.reshape(-1)[:: max(1, vol.size // 1_000_000)]
    mask = vol > otsu_threshold(sub)
    return mask if mask.any() else np.ones(vol.shape, dtype=bool)
