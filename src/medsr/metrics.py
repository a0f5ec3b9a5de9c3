"""Image-quality metrics for super-resolution, with the conventions of ``../shared/referee``.

Conventions (:func:`medsr.evaluation.evaluate` with ``mask="threshold"``, identical to the referee):

* ``data_range = p99.9 - p0.1`` of the reference (all channels together), ``lo = p0.1``.
* The mask is ``reference > lo + 0.1 · data_range`` (the channel mean for RGB), dilated twice
  with the face-connected structure (``scipy.ndimage.binary_dilation(iterations=2)``), then the
  first and last ``ceil(f)`` voxels along every axis with factor ``f > 1`` are left out. It
  applies to every channel.
* PSNR is ``10 log10(data_range² / MSE)`` over the masked voxels (all channels).
* SSIM is scikit-image's ``structural_similarity`` (Wang et al., IEEE TIP 2004) with the same
  data range over the whole image (3D for volumes, 2D for planar images, channel-wise for RGB);
  ``ssim_mask`` is the mean of the SSIM map inside the mask.
* ``mask_voxels`` counts spatial voxels (the referee counts each RGB channel, 3× as many).
* A prediction on another grid is resampled onto the reference grid in world coordinates with
  linear interpolation and nearest-neighbour extrapolation, and flagged ``resampled: true``.

Arrays are medsr's ``(C, X, Y, Z)`` (or ``(X, Y, Z)``); the referee's are SimpleITK's
``(Z, Y, X)``. PSNR is order-free; SSIM's box filter and border crop are symmetric in the axes,
so both agree to rounding (the tests check it on a real case).

Example:
    >>> import numpy as np
    >>> ref = np.zeros((1, 8, 8, 8)); ref[0, 2:6, 2:6, 2:6] = 100.0
    >>> round(psnr(ref, ref + 1.0, data_range=100.0), 2)
    40.0
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from medsr.errors import ConfigError, InvalidImageError
from medsr.geometry import same_grid as grids_match
from medsr.image import Image

log = logging.getLogger(__name__)

MASK_METHODS = ("threshold", "otsu", "auto")


# -- building blocks ------------------------------------------------------------------------
def _as4d(a: np.ndarray | Image) -> np.ndarray:
    arr = np.asarray(a.data if isinstance(a, Image) else a, dtype=np.float64)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4:
        raise InvalidImageError(
            None, f"metrics need (C, X, Y, Z) or (X, Y, Z) arrays, got shape {arr.shape}", "pass Image.data"
        )
    return arr


def _select(arr: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    if mask is None:
        return arr.reshape(-1)
    m = np.asarray(mask, dtype=bool)
    if m.ndim == 4:
        m = m[0]
    if m.shape != arr.shape[1:]:
        raise InvalidImageError(
            None,
            f"mask of shape {m.shape} does not fit image {arr.shape[1:]}",
            "give an (X, Y, Z) mask on the reference grid",
        )
    return arr[:, m].reshape(-1)


def reference_range(ref: np.ndarray | Image) -> tuple[float, float]:
    """``(p0.1, p99.9)`` of all reference values (the referee's ``lo`` and ``hi``)."""
    lo, hi = np.percentile(_as4d(ref), [0.1, 99.9])
    return float(lo), float(hi)


def reference_mask(
    ref: np.ndarray | Image,
    data_range: float | None = None,
    lo: float | None = None,
    factors: Sequence[float] | None = None,
) -> np.ndarray:
    """The referee's evaluation mask, ``(X, Y, Z)`` bool (see the module docstring).

    ``data_range`` and ``lo`` default to :func:`reference_range`; ``factors`` (3 values, or 2 for
    a 2D image) say which axes lose ``ceil(f)`` voxels at both ends.
    """
    from scipy import ndimage

    arr = _as4d(ref)
    if data_range is None or lo is None:
        p_lo, p_hi = reference_range(arr)
        lo = p_lo if lo is None else lo
        data_range = (p_hi - p_lo) if data_range is None else data_range
    grey = arr[0] if arr.shape[0] == 1 else arr.mean(axis=0)
    mask = ndimage.binary_dilation(grey > lo + 0.1 * data_range, iterations=2)
    return exclude_borders(mask, factors)


def exclude_borders(mask: np.ndarray, factors: Sequence[float] | None) -> np.ndarray:
    """``mask`` without the first and last ``ceil(f)`` voxels along each axis whose ``f > 1``."""
    m = np.array(mask, dtype=bool)
    if factors is None:
        return m
    f = [float(v) for v in factors] + [1.0] * (3 - len(factors))
    for axis, fa in enumerate(f[:3]):
        if fa > 1:
            k = int(np.ceil(fa - 1e-9))
            idx: list[Any] = [slice(None)] * 3
            idx[axis] = slice(0, k)
            m[tuple(idx)] = False
            idx[axis] = slice(max(0, m.shape[axis] - k), None)
            m[tuple(idx)] = False
    return m


def psnr(
    ref: np.ndarray | Image, pred: np.ndarray | Image, mask: np.ndarray | None = None, data_range: float | None = None
) -> float:
    """Peak signal-to-noise ratio (dB) over the masked voxels of every channel; ``inf`` if equal.

    ``data_range`` defaults to ``p99.9 - p0.1`` of ``ref``.
    """
    a, b = _as4d(ref), _as4d(pred)
    _same_shape(a, b)
    if data_range is None:
        lo, hi = reference_range(a)
        data_range = hi - lo
    va, vb = _select(a, mask), _select(b, mask)
    if va.size == 0:
        raise InvalidImageError(None, "the evaluation mask is empty", "use another mask or threshold")
    mse = float(np.mean((va - vb) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(data_range**2 / mse))


def ssim_map(ref: np.ndarray | Image, pred: np.ndarray | Image, data_range: float) -> tuple[float, np.ndarray]:
    """``(whole-image SSIM, (X, Y, Z) SSIM map)`` with scikit-image's defaults (7-voxel box
    window, smaller for thin images; channels averaged)."""
    from skimage.metrics import structural_similarity

    a, b = _as4d(ref), _as4d(pred)
    _same_shape(a, b)
    planar = a.shape[3] == 1
    spatial = a.shape[1:3] if planar else a.shape[1:]
    win = min(7, *[s if s % 2 else s - 1 for s in spatial])
    if win < 3:
        raise InvalidImageError(None, f"image {a.shape[1:]} is too thin for SSIM", "evaluate a larger image")
    if planar:
        a, b = a[..., 0], b[..., 0]
    multi = a.shape[0] > 1
    x, y = (np.moveaxis(a, 0, -1), np.moveaxis(b, 0, -1)) if multi else (a[0], b[0])
    whole, smap = structural_similarity(
        x, y, data_range=float(data_range), win_size=win, full=True, channel_axis=-1 if multi else None
    )
    smap = smap.mean(axis=-1) if multi else smap
    return float(whole), (smap[..., None] if planar else smap)


def ssim(
    ref: np.ndarray | Image, pred: np.ndarray | Image, data_range: float, mask: np.ndarray | None = None
) -> tuple[float, float | None]:
    """``(whole-image SSIM, mean SSIM inside mask or None)`` (:func:`ssim_map`)."""
    whole, smap = ssim_map(ref, pred, data_range)
    if mask is None:
        return whole, None
    m = np.asarray(mask, dtype=bool)
    m = m[0] if m.ndim == 4 else m
    return whole, (float(smap[m].mean()) if m.any() else None)


def slice_profile(
    ref: np.ndarray | Image, pred: np.ndarray | Image, mask: np.ndarray | None, axis: int, data_range: float
) -> np.ndarray:
    """PSNR (dB) of every slice along spatial ``axis`` (0 = X … 2 = Z): shape ``(n_axis,)``;
    NaN where the slice has no mask voxels, ``inf`` where it is exact."""
    a, b = _as4d(ref), _as4d(pred)
    _same_shape(a, b)
    m = np.ones(a.shape[1:], bool) if mask is None else np.asarray(mask, bool)
    m = m[0] if m.ndim == 4 else m
    err = ((a - b) ** 2).sum(axis=0) * m  # (X, Y, Z), summed over channels
    other = tuple(i for i in range(3) if i != axis)
    sse = err.sum(axis=other)
    count = m.sum(axis=other) * a.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        mse = np.where(count > 0, sse / np.maximum(count, 1), np.nan)
        return np.where(mse == 0, np.inf, 10 * np.log10(data_range**2 / mse))


def _same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise InvalidImageError(
            None,
            f"reference {a.shape} and prediction {b.shape} differ in shape",
            "resample the prediction onto the reference grid (evaluate does this)",
        )


# -- data consistency -------------------------------------------------------------------------
def data_consistency_error(
    lr: Image, sr: Image, profile: Any = "rect", thickness: float | Sequence[float | None] | None = None
) -> float:
    """Relative L2 error ``||degrade(sr) - lr||₂ / ||lr||₂`` on the LR grid.

    ``sr`` is degraded with ``factors = lr.spacing / sr.spacing`` (1 where they agree within 1e-6),
    ``profile`` and ``thickness`` (mm; default: ``lr.meta.slice_thickness`` on the slice axis if
    known, else thickness = LR spacing) by :func:`medsr.acquisition.degrade`. If that lands on another
    grid than ``lr`` (an SR output not made with ``upsample_grid``), it is resampled onto ``lr``'s
    grid linearly. All channels and voxels count; 0 means the output reproduces its input exactly.
    """
    from medsr.acquisition import degrade
    from medsr.baselines import resample_to_grid

    ratio = lr.spacing / sr.spacing
    if np.any(ratio < 1 - 1e-6):
        raise ConfigError(
            sr.meta.source_path,
            f"SR spacing {sr.spacing.tolist()} mm is coarser than LR spacing {lr.spacing.tolist()} mm",
            "pass (lr, sr) in this order",
        )
    factors = np.where(np.abs(ratio - np.round(ratio)) < 1e-6, np.round(ratio), ratio)
    factors = np.maximum(factors, 1.0)
    if thickness is None and lr.meta.slice_thickness and factors[2] > 1:
        thickness = (None, None, float(lr.meta.slice_thickness))
    down = degrade(sr, factors[:2] if sr.is_2d else factors, thickness_mm=thickness, profile=profile)
    if not same_grid(down, lr):
        log.info("degraded SR grid %s differs from LR grid %s: resampling", down.grid, lr.grid)
        down = resample_to_grid(down, lr.grid, "linear")
    ref = np.asarray(lr.data, np.float64)
    norm = float(np.linalg.norm(ref))
    diff = float(np.linalg.norm(np.asarray(down.data, np.float64) - ref))
    return diff / norm if norm > 0 else (0.0 if diff == 0 else float("inf"))


def same_grid(a: Image, b: Image) -> bool:
    """The referee's test on two images' grids (:func:`medsr.geometry.same_grid`)."""
    return grids_match(a.grid, b.grid)
