"""Per-axis linear operators applied to an Image's array, and the parsing of per-axis options.

Each degraded axis gets one ``(n_lr, n_hr)`` float64 matrix (a slice profile from
:mod:`medsr.acquisition.profile`, a k-space truncation from :mod:`medsr.acquisition.kspace`, or a
Gaussian blur on the HR grid); :func:`apply_operators` applies them one axis after the other in
float64, channel by channel, so the result does not depend on the axis order beyond rounding.

Example:
    >>> import numpy as np
    >>> data = np.arange(8, dtype=np.float32).reshape(1, 1, 1, 8)
    >>> W = np.kron(np.eye(2), np.full((1, 4), 0.25))  # mean of 4 voxels
    >>> apply_operators(data, {2: W}).ravel().tolist()
    [1.5, 5.5]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from medsr.acquisition.profile import FWHM_TO_SIGMA, apply_along_axis
from medsr.errors import ConfigError
from medsr.geometry import Grid
from medsr.image import Image


def parse_factors(factors: ArrayLike | float, image: Image) -> np.ndarray:
    """Three per-axis factors (X, Y, Z), each finite and ≥ 1; a 2D image may give two."""
    f = np.atleast_1d(np.asarray(factors, dtype=np.float64)).reshape(-1)
    if f.size == 2 and image.is_2d:
        f = np.append(f, 1.0)
    if f.size != 3:
        raise ConfigError(
            image.meta.source_path,
            f"factors {f.tolist()} need one value per axis",
            "give 3 factors (x y z), or 2 for a 2D image, e.g. 1 1 4",
        )
    if not np.all(np.isfinite(f)) or np.any(f < 1):
        raise ConfigError(
            image.meta.source_path,
            f"degradation factors {f.tolist()} must be ≥ 1",
            "use factors such as 1 1 4; use upsample to make an image finer",
        )
    if image.is_2d and f[2] != 1:
        raise ConfigError(
            image.meta.source_path,
            f"a 2D image cannot be degraded along Z (factors {f.tolist()})",
            "give two factors (x y)",
        )
    return f


def slice_axis(factors: np.ndarray, image: Image) -> int:
    """The axis of the slices: the last degraded axis, else Z (Y for a 2D image)."""
    degraded = [a for a in range(3) if factors[a] > 1]
    if degraded:
        return degraded[-1]
    return 1 if image.is_2d else 2


def parse_per_axis(
    value: float | Sequence[float | None] | None, name: str, n_axes: int, scalar_axes: Sequence[int]
) -> list[float | None]:
    """Per-axis values (mm) from ``None``, a scalar (given to ``scalar_axes``) or a sequence."""
    if value is None:
        return [None] * 3
    if np.ndim(value) == 0:  # type: ignore[arg-type]
        out: list[float | None] = [None] * 3
        for a in scalar_axes:
            out[a] = float(value)  # type: ignore[arg-type]
    else:
        seq = list(value)  # type: ignore[arg-type]
        if len(seq) == 2 and n_axes == 2:
            seq.append(None)
        if len(seq) != 3:
            raise ConfigError(
                None,
                f"{name} {seq} needs one value per axis",
                f"give one {name} value, or one per axis (None to keep the default)",
            )
        out = [None if v is None else float(v) for v in seq]
    for v in out:
        if v is not None and not (np.isfinite(v) and v >= 0):
            raise ConfigError(None, f"{name} {out} mm must be finite and ≥ 0", f"give {name} in mm")
    return out


def gaussian_matrix(n: int, fwhm_vox: float) -> np.ndarray:
    """``(n, n)`` Gaussian blur of full width at half maximum ``fwhm_vox`` voxels, integrated
    over each voxel; rows sum to 1 (the kernel is renormalised at the borders)."""
    from scipy.special import ndtr

    sigma = fwhm_vox * FWHM_TO_SIGMA
    if sigma < 1e-6:
        return np.eye(n)
    idx = np.arange(n, dtype=np.float64)
    d = idx[None, :] - idx[:, None]
    W = ndtr((d + 0.5) / sigma) - ndtr((d - 0.5) / sigma)
    return W / W.sum(axis=1, keepdims=True)


def apply_operators(data: np.ndarray, operators: Mapping[int, np.ndarray]) -> np.ndarray:
    """Apply ``operators[a]`` (m, n) along spatial axis ``a`` of ``(C, X, Y, Z)`` data, in float64
    and in the order X, Y, Z; returns float64 ``(C, X', Y', Z')``."""
    out = np.asarray(data, dtype=np.float64)
    for a in sorted(operators):
        W = operators[a]
        if W.shape[1] != out.shape[1 + a]:
            raise ConfigError(
                None,
                f"operator of shape {W.shape} does not fit axis {a} of size {out.shape[1 + a]}",
                "build the operator for the current grid",
            )
        out = np.stack([apply_along_axis(out[c], W, a) for c in range(out.shape[0])])
    return out


def grid_record(grid: Grid) -> dict[str, Any]:
    """JSON-able description of a grid (for ``meta.history``)."""
    return {
        "shape": list(grid.shape),
        "spacing": [float(v) for v in grid.spacing],
        "origin": [float(v) for v in grid.origin],
        "direction": [float(v) for v in grid.direction.reshape(-1)],
    }
