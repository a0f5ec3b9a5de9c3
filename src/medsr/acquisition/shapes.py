"""The slice-profile shapes real scanners make, as kernels of a given full width at half maximum.

* ``rect``: uniform sensitivity (the ideal that medsr assumed by default);
* ``gaussian``: a bell (a helical CT's section sensitivity profile);
* ``trapezoid``: a flat top of half the FWHM with linear shoulders;
* ``mr-sinc``: the magnitude profile of a Hann-windowed sinc RF pulse of time-bandwidth 4 (in the
  small-tip approximation the slice profile is the pulse's Fourier transform: a soft-shouldered
  plateau with side lobes).

Example:
    >>> off, w = shape_kernel("gaussian", 4.0)
    >>> round(kernel_fwhm(off, w), 2), round(kernel_sigma(shape_profile("rect", 4.0)), 3)
    (4.0, 1.155)
"""

from __future__ import annotations

import numpy as np

from medsr.acquisition.profile import SliceProfile
from medsr.errors import ConfigError

SHAPES = ("rect", "gaussian", "trapezoid", "mr-sinc")


def _mr_sinc_unit() -> tuple[np.ndarray, np.ndarray]:
    """The magnitude profile of a Hann-windowed sinc RF pulse (time-bandwidth 4), offsets scaled
    so that its FWHM is 1 (small-tip approximation: the profile is the pulse's Fourier transform)."""
    t = np.linspace(-0.5, 0.5, 513)
    pulse = np.sinc(4.0 * t) * (0.5 + 0.5 * np.cos(2 * np.pi * t))
    f = np.linspace(-6.0, 6.0, 1201)
    prof = np.abs(np.exp(-2j * np.pi * np.outer(f, t)) @ pulse)
    prof /= prof.max()
    above = f[prof >= 0.5]
    return f / (above.max() - above.min()), prof


_MR_U, _MR_W = _mr_sinc_unit()


def shape_kernel(shape: str, fwhm_mm: float, n: int = 161) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets_mm, weights)`` of a profile of ``shape`` and full width at half maximum ``fwhm_mm``.

    Example:
        >>> off, w = shape_kernel("trapezoid", 4.0)
        >>> float(np.interp(2.0, off, w))   # half maximum at half the FWHM
        0.5
    """
    if shape not in SHAPES:
        raise ConfigError(None, f"unknown profile shape {shape!r}", f"use one of {', '.join(SHAPES)}")
    reach = {"rect": 0.75, "gaussian": 1.5, "trapezoid": 1.0, "mr-sinc": 2.5}[shape]
    u = np.linspace(-reach, reach, n)
    if shape == "rect":
        w = (np.abs(u) <= 0.5).astype(np.float64)
        u = np.array([-0.5 - 1e-6, -0.5, 0.5, 0.5 + 1e-6])
        w = np.array([0.0, 1.0, 1.0, 0.0])
    elif shape == "gaussian":
        w = np.exp(-4 * np.log(2) * u**2)
    elif shape == "trapezoid":  # flat top half-width 1/4, base half-width 3/4 (FWHM 1)
        w = np.clip((0.75 - np.abs(u)) / 0.5, 0.0, 1.0)
    else:
        w = np.interp(u, _MR_U, _MR_W, left=0.0, right=0.0)
    return u * float(fwhm_mm), w


def kernel_sigma(profile: SliceProfile, spacing_mm: float = 0.05) -> float:
    """Standard deviation (mm) of a profile's sensitivity: what decides the acquired signal
    below the slice Nyquist frequency, where profiles of equal sigma look alike."""
    n = int(np.ceil(12 * max(profile.thickness_mm, 1.0) / spacing_mm)) | 1
    row = profile._row(n // 2, n, spacing_mm)
    x = (np.arange(n) - n // 2) * spacing_mm
    p = row / max(row.sum(), 1e-12)
    return float(np.sqrt(np.sum(p * x**2)))


def kernel_fwhm(offsets_mm: np.ndarray, weights: np.ndarray) -> float:
    """Full width at half maximum (mm) of a sampled profile (outermost half-maximum crossings)."""
    off = np.asarray(offsets_mm, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    half = 0.5 * float(w.max())
    fine = np.linspace(off[0], off[-1], 4001)
    above = fine[np.interp(fine, off, w) >= half]
    return float(above.max() - above.min()) if above.size else 0.0


def shape_profile(shape: str, fwhm: float) -> SliceProfile:
    """The :class:`SliceProfile` of ``shape`` (one of :data:`SHAPES`) at FWHM ``fwhm`` (mm)."""
    if shape == "rect":
        return SliceProfile("rect", fwhm)
    if shape == "gaussian":
        return SliceProfile("gaussian", fwhm)
    off, w = shape_kernel(shape, fwhm)
    return SliceProfile("kernel", fwhm, (tuple(off), tuple(w)))
