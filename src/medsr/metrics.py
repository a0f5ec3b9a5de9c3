"""Image-quality metrics for super-resolution, with the conventions of ``../shared/referee``.

Conventions (:func:`evaluate` with ``mask="threshold"``, identical to the referee):

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
from pathlib import Path
from typing import Any

import numpy as np

from medsr.errors import ConfigError, InvalidImageError
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
    """The referee's test: same size, spacing within 1e-4 mm, origin 1e-3 mm, direction 1e-4."""
    return (
        a.shape == b.shape
        and np.allclose(a.spacing, b.spacing, atol=1e-4)
        and np.allclose(a.origin, b.origin, atol=1e-3)
        and np.allclose(a.direction, b.direction, atol=1e-4)
    )


# -- evaluation -----------------------------------------------------------------------------
def evaluate(
    reference: Image,
    predictions: Image | Sequence[Image],
    *,
    names: Sequence[str] | None = None,
    mask: str | np.ndarray | Image | None = "threshold",
    factors: Sequence[float] | None = None,
    segment: str | Image | None = None,
) -> dict[str, Any]:
    """Score ``predictions`` against ``reference`` (see the module docstring).

    Args:
        reference: the ground-truth Image.
        predictions: one Image or several; any grid (resampled when it differs).
        names: one name each (default: file stems, else ``prediction1`` …).
        mask: ``threshold`` (the referee's mask; also for ``None``), ``otsu`` or ``auto``
            (:func:`medsr.mask.foreground_mask`), or an ``(X, Y, Z)`` bool array / mask Image.
        factors: the degradation factors; their axes lose ``ceil(f)`` border voxels, and the
            largest one is the axis of the per-slice PSNR profile and of the acquired/unacquired
            split (:mod:`medsr.downstream`).
        segment: ``threshold``, ``otsu`` or a reference label map: also segment the reference
            and every prediction the same way and report Dice, volume error and HD95
            (:func:`medsr.downstream.downstream`).

    Returns:
        ``{"reference": {...}, "data_range", "lo", "mask": {"method", "voxels"}, "factors",
        "slice_axis", "predictions": {name: {"psnr", "ssim", "ssim_mask", "mask_voxels",
        "resampled", "data_range", "slice_profile", "slices" (acquired/unacquired, with factors),
        "segmentation" (with segment)}}, "segmentation_rule"}``; JSON-able (NaN/inf become None).
    """
    preds = [predictions] if isinstance(predictions, Image) else list(predictions)
    labels = _names(preds, names)
    from medsr.comparability import check_comparable

    for label, p in zip(labels, preds, strict=True):
        check_comparable(reference, p, label)
    ref = _as4d(reference)
    lo, hi = reference_range(ref)
    dr = hi - lo
    f = _factor_list(factors, reference)
    m, method = _evaluation_mask(reference, mask, dr, lo, f)
    axis = int(np.argmax(f)) if f is not None and max(f) > 1 else (1 if reference.is_2d else 2)
    split = f[axis] if f is not None and f[axis] > 1 else None
    aligned = {name: _on_grid(reference, p) for name, p in zip(labels, preds, strict=True)}
    results = {name: _score_one(ref, p, m, dr, axis, split) for name, p in aligned.items()}
    rule = None
    if segment is not None:
        from medsr.downstream import downstream

        seg = downstream(reference, {n: p for n, (p, _) in aligned.items()}, segment)
        rule = seg.pop("rule")
        for name, r in seg.items():
            results[name]["segmentation"] = r
    return {
        "reference": {
            "shape": list(reference.shape),
            "spacing": reference.spacing.tolist(),
            "source": reference.meta.source_path,
        },
        "data_range": dr,
        "lo": lo,
        "mask": {"method": method, "voxels": int(m.sum())},
        "factors": f,
        "slice_axis": axis,
        "predictions": results,
        "segmentation_rule": rule,
    }


def evaluation_table(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per prediction (for CSV/JSON): name, psnr, ssim, ssim_mask, mask_voxels,
    resampled, data_range, gain over the first prediction (dB)."""
    rows = []
    first = None
    for name, r in result["predictions"].items():
        first = r["psnr"] if first is None else first
        gain = None if r["psnr"] is None or first is None else round(r["psnr"] - first, 4)
        rows.append(
            {
                "name": name,
                "psnr": r["psnr"],
                "ssim": r["ssim"],
                "ssim_mask": r["ssim_mask"],
                "mask_voxels": r["mask_voxels"],
                "resampled": r["resampled"],
                "data_range": r["data_range"],
                "psnr_gain_vs_first_db": gain,
                **_extra_columns(r),
            }
        )
    return rows


def _extra_columns(r: dict[str, Any]) -> dict[str, Any]:
    """The acquired/unacquired and segmentation figures of one prediction, flat."""
    out: dict[str, Any] = {}
    for part in ("acquired", "unacquired"):
        s = (r.get("slices") or {}).get(part)
        if s:
            out[f"psnr_{part}"], out[f"ssim_{part}"] = s["psnr"], s["ssim"]
    seg = r.get("segmentation") or {}
    out.update({k: seg[k] for k in ("dice", "volume_error_ml", "hd95_mm") if k in seg})
    return out


def _on_grid(reference: Image, pred: Image) -> tuple[Image, bool]:
    """``(pred on the reference grid, whether it had to be resampled)``."""
    from medsr.baselines import resample_to_grid

    if pred.channels != reference.channels:
        raise InvalidImageError(
            pred.meta.source_path,
            f"prediction has {pred.channels} channels, reference {reference.channels}",
            "compare images of the same kind",
        )
    if same_grid(pred, reference):
        return pred, False
    return resample_to_grid(pred, reference.grid, "linear"), True


def _score_one(
    ref: np.ndarray, aligned: tuple[Image, bool], m: np.ndarray, dr: float, axis: int, split: float | None
) -> dict[str, Any]:
    pred, resampled = aligned
    b = _as4d(pred)
    whole, smap = ssim_map(ref, b, dr)
    prof = slice_profile(ref, b, m, axis, dr)
    out: dict[str, Any] = {
        "psnr": _finite(psnr(ref, b, m, dr)),
        "ssim": _finite(whole),
        "ssim_mask": _finite(float(smap[m].mean()) if m.any() else None),
        "mask_voxels": int(m.sum()),
        "resampled": bool(resampled),
        "data_range": dr,
        "slice_profile": [_finite(v) for v in prof],
    }
    if split is not None:
        from medsr.downstream import split_scores

        out["slices"] = split_scores(ref, b, m, smap, dr, axis, split)
    return out


def _evaluation_mask(
    reference: Image, mask: Any, dr: float, lo: float, f: list[float] | None
) -> tuple[np.ndarray, str]:
    if mask is None or (isinstance(mask, str) and mask == "threshold"):
        return reference_mask(reference, dr, lo, f), "threshold"
    if isinstance(mask, str):
        if mask not in MASK_METHODS:
            raise ConfigError(None, f"unknown evaluation mask {mask!r}", f"use one of {', '.join(MASK_METHODS)}")
        from medsr.mask import foreground_mask

        return exclude_borders(foreground_mask(reference, method=mask), f), mask
    arr = np.asarray(mask.data[0] > 0.5 if isinstance(mask, Image) else mask, dtype=bool)
    arr = arr[0] if arr.ndim == 4 else arr
    if arr.shape != reference.shape:
        raise InvalidImageError(
            None,
            f"mask of shape {arr.shape} does not fit the reference {reference.shape}",
            "give a mask on the reference grid",
        )
    return arr, "given"


def _factor_list(factors: Sequence[float] | None, reference: Image) -> list[float] | None:
    if factors is None:
        return None
    f = [float(v) for v in np.atleast_1d(np.asarray(factors, dtype=np.float64))]
    if len(f) == 2 and reference.is_2d:
        f.append(1.0)
    if len(f) != 3:
        raise ConfigError(None, f"factors {f} need one value per axis", "give 3 factors, or 2 for a 2D image")
    return f


def _names(preds: list[Image], names: Sequence[str] | None) -> list[str]:
    if names is not None and len(names) != len(preds):
        raise ConfigError(None, f"{len(names)} names for {len(preds)} predictions", "give one name per prediction")
    raw = (
        list(names)
        if names is not None
        else [
            Path(p.meta.source_path).name.split(".")[0] if p.meta.source_path else f"prediction{i + 1}"
            for i, p in enumerate(preds)
        ]
    )
    out: list[str] = []
    for n in raw:
        k, cand = 1, n
        while cand in out:
            k += 1
            cand = f"{n}#{k}"
        out.append(cand)
    return out


def _finite(v: float | None) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)
