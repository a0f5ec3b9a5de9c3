"""K-space truncation: an MRI acquisition that samples only the centre of k-space.

Along one axis of ``n`` HR voxels (spacing ``s``), a scanner with ``f`` times coarser sampling
records the Fourier coefficients ``X[k]`` of the field of view for ``|k| < n / (2 f)``
(cycles per FOV), optionally tapered by a window to reduce Gibbs ringing, and the image is the
inverse transform of what was recorded. As a matrix (``(n_lr, n)``, float64)::

    K[m, i] = Re( (1/n) Σ_k w(k) exp(2πi k (p_m - i) / n) )

with the sample positions ``p_m`` in HR index units. :func:`kspace_matrix` puts them on the
grid of :func:`medsr.geometry.degrade_grid` — ``p_m = m f + (f - 1) / 2``, ``n_lr =
floor(n / f)`` — so the output keeps the field of view and lands on the same grid as the
image-domain slice profiles; with ``same_grid=True`` it keeps the HR grid (``p_m = m``,
a band-limited HR image). The HR FOV is treated as periodic, as the discrete Fourier transform
does: an object touching one edge rings at the other. ``w(0) = 1``, so constants are kept.
At the band edge ``|k| = n / (2 f)`` exactly, the coefficient is weighted ½ (the usual
symmetric Nyquist treatment).

Windows over the kept band, with ``r = |k| / k_max``: ``none`` (1), ``hann``
(``0.5 (1 + cos π r)``) and ``tukey`` (flat up to ``1 - alpha``, then a cosine taper to 0).

Example:
    >>> import numpy as np
    >>> n, f = 32, 4.0
    >>> x = np.cos(2 * np.pi * 2 * np.arange(n) / n)          # 2 cycles per FOV: inside the band
    >>> K = kspace_matrix(n, f)
    >>> p = np.arange(8) * f + (f - 1) / 2
    >>> bool(np.allclose(K @ x, np.cos(2 * np.pi * 2 * p / n)))
    True
"""

from __future__ import annotations

import numpy as np

from medsr.errors import ConfigError

WINDOWS = ("none", "hann", "tukey")


def band_window(k: np.ndarray, k_max: float, window: str = "none", alpha: float = 0.5) -> np.ndarray:
    """Window weights for signed frequencies ``k`` (cycles per FOV) in a band of half-width ``k_max``."""
    if window not in WINDOWS:
        raise ConfigError(None, f"unknown k-space window {window!r}", f"use one of {', '.join(WINDOWS)}")
    if not 0 <= alpha <= 1:
        raise ConfigError(None, f"Tukey alpha {alpha} is outside 0…1", "use e.g. 0.5")
    r = np.abs(np.asarray(k, dtype=np.float64)) / max(k_max, 1e-12)
    if window == "none":
        w = np.ones_like(r)
    elif window == "hann":
        w = 0.5 * (1.0 + np.cos(np.pi * np.clip(r, 0, 1)))
    else:
        flat = 1.0 - alpha
        taper = 0.5 * (1.0 + np.cos(np.pi * (r - flat) / max(alpha, 1e-12)))
        w = np.where(r <= flat, 1.0, taper)
    w = np.where(r > 1 + 1e-9, 0.0, w)
    return np.where(np.abs(r - 1) <= 1e-9, 0.5 * w, w)


def kspace_matrix(
    n_hr: int,
    factor: float,
    n_lr: int | None = None,
    *,
    window: str = "none",
    alpha: float = 0.5,
    same_grid: bool = False,
) -> np.ndarray:
    """The ``(n_lr, n_hr)`` float64 k-space truncation operator (see the module docstring).

    Args:
        n_hr: HR voxels along the axis.
        factor: ``spacing_lr / spacing_hr`` (≥ 1); the kept band is ``|k| ≤ n_hr / (2 factor)``.
        n_lr: output samples; defaults to ``floor(n_hr / factor)`` (``n_hr`` with ``same_grid``).
        window: ``none``, ``hann`` or ``tukey`` (``alpha`` is the tapered fraction).
        same_grid: keep the HR grid (band-limit only) instead of sampling the LR grid.
    """
    if not (np.isfinite(factor) and factor >= 1):
        raise ConfigError(None, f"k-space factor {factor} must be ≥ 1", "use the degradation factor")
    if same_grid:
        n_out = n_hr if n_lr is None else int(n_lr)
        pos = np.arange(n_out, dtype=np.float64)
    else:
        n_out = max(1, int(np.floor(n_hr / factor + 1e-9))) if n_lr is None else int(n_lr)
        pos = np.arange(n_out, dtype=np.float64) * factor + (factor - 1) / 2
    k_max = n_hr / (2.0 * factor)
    k = np.arange(-int(np.floor(k_max)), int(np.floor(k_max)) + 1, dtype=np.float64)
    w = band_window(k, k_max, window, alpha)
    keep = w > 0
    k, w = k[keep], w[keep]
    idx = np.arange(n_hr, dtype=np.float64)
    # K[m, i] = (1/n) Σ_k w_k cos(2π k (p_m - i) / n); the sine terms cancel (w symmetric in k)
    phase_out = 2 * np.pi * np.outer(pos, k) / n_hr  # (n_out, nk)
    phase_in = 2 * np.pi * np.outer(k, idx) / n_hr  # (nk, n_hr)
    K = (np.cos(phase_out) * w) @ np.cos(phase_in) + (np.sin(phase_out) * w) @ np.sin(phase_in)
    return K / n_hr


def kspace_record(window: str, alpha: float, axes: list[int]) -> dict:
    """JSON-able description of a k-space truncation (for ``meta.history``)."""
    return {
        "model": "kspace-truncation",
        "window": window,
        "alpha": float(alpha),
        "axes": axes,
        "grid": "degrade_grid (LR sample m at HR index m f + (f-1)/2), periodic FOV",
    }
