"""Invertible intensity scaling and a foreground mask for self-supervised fitting.

Intensities map linearly so that the robust range (0.5th to 99.5th percentile) becomes
[0, 1]; :meth:`RobustScale.inverse` is the exact inverse in float64, so HU stay HU.
The mask (where training patches are centred) is :func:`medsr.mask.foreground_mask` when that
module is available, else an Otsu threshold.

Example:
    >>> import numpy as np
    >>> x = np.linspace(-1000, 400, 1000).astype(np.float32)
    >>> s = RobustScale.fit(x)
    >>> bool(np.allclose(s.inverse(s.forward(x)), x, atol=1e-3))
    True
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from medsr.image import Image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RobustScale:
    """``y = (x - offset) / scale``; the inverse is exact up to float32 rounding."""

    offset: float
    scale: float

    @classmethod
    def fit(cls, data: np.ndarray, lo_pct: float = 0.5, hi_pct: float = 99.5,
            max_samples: int = 2_000_000) -> "RobustScale":
        flat = np.asarray(data).reshape(-1)
        if flat.size > max_samples:  # a regular subsample keeps this fast and deterministic
            flat = flat[:: flat.size // max_samples + 1]
        lo, hi = np.percentile(flat.astype(np.float64), [lo_pct, hi_pct])
        if not hi > lo:
            lo, hi = float(flat.min()), float(flat.max())
        scale = float(hi - lo) if hi > lo else 1.0
        return cls(offset=float(lo), scale=scale)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, dtype=np.float64) - self.offset) / self.scale).astype(np.float32)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        return (np.asarray(y, dtype=np.float64) * self.scale + self.offset).astype(np.float32)

    def to_dict(self) -> dict:
        return {"offset": self.offset, "scale": self.scale, "percentiles": [0.5, 99.5]}


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


def foreground(image: "Image") -> np.ndarray:
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
