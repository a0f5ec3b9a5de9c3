"""Physical acquisition models: make the low-resolution image a scanner would have recorded.

:func:`degrade` is separable: along each degraded axis one linear operator maps the HR samples
to the LR samples of :func:`medsr.geometry.degrade_grid` (LR sample ``j`` centred at HR index
``j f + (f - 1) / 2``; HR voxels beyond the last whole block are not acquired). The operator is
an optional Gaussian PSF on the HR grid followed by a slice profile
(:class:`~medsr.acquisition.profile.SliceProfile`) or a k-space truncation
(:mod:`medsr.acquisition.kspace`); noise (:mod:`medsr.acquisition.noise`) is added on the LR grid.
Everything is computed in float64 and returned as float32.

With ``factors=(1, 1, 4)`` and the default rect profile this is exactly the ``make`` step of
``../shared/referee`` (the mean of 4 consecutive slices).

Example:
    >>> import numpy as np
    >>> from medsr.image import Image
    >>> hr = Image(np.arange(16, dtype=np.float32).reshape(1, 1, 1, 16))
    >>> lr = degrade(hr, (1, 1, 4))
    >>> lr.data.ravel().tolist(), lr.spacing.tolist(), lr.origin.tolist(), lr.meta.slice_thickness
    ([1.5, 5.5, 9.5, 13.5], [1.0, 1.0, 4.0], [0.0, 0.0, 1.5], 4.0)
    >>> gap = degrade(hr, (1, 1, 4), thickness_mm=2.0)   # 2 mm slices 4 mm apart
    >>> gap.data.ravel().tolist()
    [1.5, 5.5, 9.5, 13.5]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from medsr.acquisition.kspace import kspace_matrix, kspace_record
from medsr.acquisition.noise import NoiseModel
from medsr.acquisition.profile import SliceProfile
from medsr.acquisition.resample import (
    apply_operators,
    gaussian_matrix,
    grid_record,
    parse_factors,
    parse_per_axis,
    slice_axis,
)
from medsr.errors import ConfigError
from medsr.geometry import degrade_grid
from medsr.image import Image

__all__ = ["degrade", "SliceProfile", "NoiseModel", "kspace_matrix"]

log = logging.getLogger(__name__)


def degrade(
    image: Image,
    factors: ArrayLike | float,
    *,
    thickness_mm: float | Sequence[float | None] | None = None,
    profile: str | Path | SliceProfile = "rect",
    blur_mm: float | Sequence[float | None] | None = None,
    kspace: str | dict[str, Any] | None = None,
    noise: str | dict[str, Any] | NoiseModel | None = None,
    seed: int = 0,
) -> Image:
    """Simulate a low-resolution acquisition of ``image``.

    Args:
        image: the high-resolution Image ``(C, X, Y, Z)``; channels are degraded independently.
        factors: per-axis ``spacing_lr / spacing_hr`` (3 values, or 2 for a 2D image), each
            ≥ 1, non-integer allowed.
        thickness_mm: slice thickness (mm). ``None``: each degraded axis has thickness equal
            to its LR spacing (contiguous slices). A scalar: the slice axis (the last degraded
            axis, normally Z); other degraded axes keep thickness = LR spacing. Three values
            (``None`` = default): per axis; a value on a non-degraded axis blurs it. Thickness
            below the spacing leaves gaps, above it makes slices overlap.
        profile: ``"rect"``, ``"gaussian"`` (thickness = FWHM), a :class:`SliceProfile` (its
            thickness is the slice axis' default) or a path to a two-column kernel file
            (``offset_mm weight``) that replaces the slice-axis profile (other axes: rect).
        blur_mm: extra Gaussian PSF FWHM (mm) on the HR grid before sampling; a scalar applies
            to every in-plane axis (all but the slice axis; X and Y for a 2D image), or give
            per-axis values.
        kspace: k-space truncation instead of the slice profile: a window name (``none``,
            ``hann``, ``tukey``) or ``{"window": ..., "alpha": 0.5, "axes": [0, 1]}`` (default
            axes: every degraded axis). Same output grid (see :mod:`medsr.acquisition.kspace`).
        noise: ``"gaussian:σ"``, ``"rician:σ"``, ``"ct:σ_HU"`` or a dict/NoiseModel.
        seed: seed of the noise generator.

    Returns:
        A float32 Image on ``degrade_grid(image.grid, factors)`` whose ``meta.slice_thickness``
        is the Z thickness and whose ``meta.history`` ends with a record of the whole model.
    """
    f = parse_factors(factors, image)
    s_axis = slice_axis(f, image)
    grid_lr = degrade_grid(image.grid, f)
    n_axes = 2 if image.is_2d else 3
    prof, own_thickness = _profile(profile)
    ks = _kspace(kspace, f)
    thick = _thickness(
        thickness_mm, f, s_axis, grid_lr.spacing, prof, own_thickness, n_axes, set(ks["axes"]) if ks else set()
    )
    blur = parse_per_axis(blur_mm, "blur_mm", n_axes, [0, 1] if image.is_2d else [a for a in range(3) if a != s_axis])
    ops, profiles = _operators(image, f, grid_lr.shape, thick, prof, s_axis, blur, ks)
    out = apply_operators(image.data, ops)
    model = NoiseModel.parse(noise) if noise is not None else None
    if model is not None:
        out = model.apply(out, seed)
    meta_changes: dict[str, Any] = {}
    if 2 in ops and thick[2] is not None:
        meta_changes["slice_thickness"] = float(thick[2])
    result = image.with_data(out.astype(np.float32), grid=grid_lr, **meta_changes)
    record = {
        "op": "degrade",
        "factors": f.tolist(),
        "thickness_mm": thick,
        "slice_axis": s_axis,
        "profiles": profiles,
        "blur_fwhm_mm": blur if any(b for b in blur) else None,
        "kspace": kspace_record(ks["window"], ks["alpha"], ks["axes"]) if ks else None,
        "noise": model.to_dict() if model else None,
        "seed": int(seed),
        "grid_in": grid_record(image.grid),
        "grid_out": grid_record(grid_lr),
        "unused_hr_voxels": [float(n - m * fa) for n, m, fa in zip(image.shape, grid_lr.shape, f, strict=False)],
    }
    result.meta.history.append(record)
    log.debug("degrade: %s", record)
    return result


# -- option parsing ---------------------------------------------------------------------------
def _profile(profile: str | Path | SliceProfile) -> tuple[SliceProfile, float | None]:
    """The profile whose kind applies, and the slice-axis thickness it brings (a SliceProfile
    object's own thickness; ``None`` for the names, whose thickness here is a placeholder)."""
    if isinstance(profile, SliceProfile):
        return profile, (None if profile.kind == "kernel" else float(profile.thickness_mm))
    spec = str(profile)
    if spec.lower() in ("rect", "gaussian"):
        return SliceProfile(spec.lower(), 0.0), None
    if not Path(spec).is_file():
        raise ConfigError(
            spec,
            f"slice profile {spec!r} is neither rect, gaussian nor a kernel file",
            "use rect, gaussian or the path of a two-column file offset_mm weight",
        )
    return SliceProfile.from_file(spec), None


def _kspace(kspace: str | dict[str, Any] | None, f: np.ndarray) -> dict[str, Any] | None:
    if kspace is None or kspace is False:
        return None
    spec = {"window": kspace} if isinstance(kspace, str) else dict(kspace)
    unknown = set(spec) - {"window", "alpha", "axes"}
    if unknown:
        raise ConfigError(None, f"unknown k-space options {sorted(unknown)}", "use window, alpha and axes")
    axes = spec.get("axes")
    axes = [a for a in range(3) if f[a] > 1] if axes is None else [int(a) for a in axes]
    if any(a not in (0, 1, 2) for a in axes):
        raise ConfigError(None, f"k-space axes {axes} are not spatial axes", "use axes among 0, 1, 2")
    return {"window": str(spec.get("window", "none")), "alpha": float(spec.get("alpha", 0.5)), "axes": axes}


def _thickness(
    thickness_mm: Any,
    f: np.ndarray,
    s_axis: int,
    spacing_lr: np.ndarray,
    prof: SliceProfile,
    own: float | None,
    n_axes: int,
    kspace_axes: set[int],
) -> list[float | None]:
    """Resolved thickness (mm) per axis; ``None`` where the axis is left as it is."""
    given = parse_per_axis(thickness_mm, "thickness_mm", n_axes, [s_axis])
    out: list[float | None] = []
    for a in range(3):
        if a in kspace_axes:
            out.append(float(spacing_lr[a]) if f[a] > 1 else None)
        elif prof.kind == "kernel" and a == s_axis:
            out.append(float(prof.thickness_mm))
        elif given[a] is not None:
            out.append(given[a])
        elif own is not None and a == s_axis:
            out.append(own)
        elif f[a] > 1:
            out.append(float(spacing_lr[a]))
        else:
            out.append(None)
    return out


def _operators(
    image: Image,
    f: np.ndarray,
    lr_shape: tuple[int, int, int],
    thick: list[float | None],
    prof: SliceProfile,
    s_axis: int,
    blur: list[float | None],
    ks: dict[str, Any] | None,
) -> tuple[dict[int, np.ndarray], list[dict | None]]:
    ops: dict[int, np.ndarray] = {}
    records: list[dict | None] = []
    for a in range(3):
        n, sp = image.shape[a], float(image.spacing[a])
        W, rec = _axis_operator(a, n, sp, f[a], lr_shape[a], thick[a], prof, s_axis, ks)
        fwhm = blur[a]
        if fwhm:
            W = (np.eye(n) if W is None else W) @ gaussian_matrix(n, fwhm / sp)
        if W is not None:
            ops[a] = W
        records.append(rec)
    return ops, records


def _axis_operator(
    a: int,
    n: int,
    sp: float,
    fa: float,
    n_lr: int,
    t: float | None,
    prof: SliceProfile,
    s_axis: int,
    ks: dict[str, Any] | None,
) -> tuple[np.ndarray | None, dict | None]:
    if ks is not None and a in ks["axes"]:
        if fa == 1:
            return None, None
        K = kspace_matrix(n, fa, n_lr, window=ks["window"], alpha=ks["alpha"])
        return K, {"kind": "kspace", "window": ks["window"], "alpha": ks["alpha"]}
    if t is None:
        return None, None
    if prof.kind == "kernel" and a == s_axis:
        p = prof
    else:
        kind = "rect" if prof.kind == "kernel" else prof.kind
        p = SliceProfile(kind, float(t))
    if fa == 1 and p.kind == "rect" and t <= sp * (1 + 1e-9):
        return None, None  # a rect of at most one voxel on the HR grid is the identity
    return p.matrix(n, sp, sp * fa, n_lr), p.to_dict()
