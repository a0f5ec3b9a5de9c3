"""Weight windows for blending overlapping tiles at HR size.

A block's window is the outer product of one 1D window per axis over its HR core. Windows are
never zero, and on a side where the core touches the image border they stay flat at 1, so a
border tile is never faded out where no neighbour can take over.

* ``"gaussian"``: ``exp(-d² / 2σ²)`` with ``σ = L/8`` around the core centre (nnU-Net's choice,
  Isensee et al., Nat. Methods 2021), floored at :data:`FLOOR`, flat towards image borders.
* ``"hann"``: a raised-cosine ramp across the overlap only (``sin²``, sampled at voxel centres,
  so it starts above 0), 1 elsewhere.
* ``"none"``: all ones (plain averaging of overlaps).

Example:
    >>> axis_window(8, scale=1, overlap=2, lo_edge=True, hi_edge=False, kind="hann").astype(float).round(3).tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.854, 0.146]
"""

from __future__ import annotations

import numpy as np

from medsr.engine.tiling import Block, TilePlan
from medsr.errors import ConfigError

KINDS = ("gaussian", "hann", "none")
#: smallest weight a window takes
FLOOR = 1e-3


def axis_window(
    length_lr: int, scale: int, overlap: int, lo_edge: bool, hi_edge: bool, kind: str = "gaussian"
) -> np.ndarray:
    """1D weights over ``length_lr × scale`` HR voxels of one core."""
    n = int(length_lr) * int(scale)
    i = np.arange(n, dtype=np.float64) + 0.5
    w = np.ones(n)
    if kind == "none":
        pass
    elif kind == "gaussian":
        sigma = n / 8.0
        g = np.maximum(np.exp(-0.5 * ((i - n / 2) / sigma) ** 2), FLOOR)
        half = i < n / 2
        w = np.where(half & lo_edge, 1.0, np.where(~half & hi_edge, 1.0, g))
    elif kind == "hann":
        m = min(int(overlap) * int(scale), n // 2)
        if m > 0:
            ramp = np.sin(0.5 * np.pi * (np.arange(m) + 0.5) / m) ** 2
            if not lo_edge:
                w[:m] = ramp
            if not hi_edge:
                w[n - m :] = np.minimum(w[n - m :], ramp[::-1])
    else:
        raise ConfigError(None, f"unknown blending {kind!r}", f"use one of {', '.join(KINDS)}")
    return np.maximum(w, FLOOR).astype(np.float32)


def block_weight(plan: TilePlan, block: Block, kind: str = "gaussian") -> np.ndarray:
    """Weights of shape ``block.core_shape × scale`` (float32, all > 0)."""
    w = np.ones((), np.float32)
    for a, (t, f, o) in enumerate(zip(block.core_shape, plan.scale, plan.overlap, strict=False)):
        v = axis_window(t, f, o, block.at_lo[a], block.at_hi[a], kind)
        w = np.multiply.outer(w, v)
    return w.astype(np.float32, copy=False)
