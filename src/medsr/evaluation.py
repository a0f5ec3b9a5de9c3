"""Scoring predictions against a reference: :func:`evaluate` and its flat table.

The building blocks and their conventions (the referee's) are in :mod:`medsr.metrics`; the
downstream figures (segmentation, acquired/unacquired slices) in :mod:`medsr.downstream`.

Example:
    >>> import numpy as np
    >>> from medsr.image import Image
    >>> ref = Image(np.pad(np.full((1, 8, 8, 8), 100.0, np.float32), ((0, 0), (4, 4), (4, 4), (4, 4))))
    >>> r = evaluate(ref, [ref.with_data(ref.data + 1.0)], names=["plus1"])
    >>> round(r["predictions"]["plus1"]["psnr"], 2)
    40.0
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medsr.errors import ConfigError, InvalidImageError
from medsr.image import Image
from medsr.metrics import (
    MASK_METHODS,
    _as4d,
    exclude_borders,
    psnr,
    reference_mask,
    reference_range,
    same_grid,
    slice_profile,
    ssim_map,
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
