"""Downstream measurements: does super-resolution change what a user measures?

* **Segment the same way** (:func:`segmenter`): ``threshold`` is the founding article's
  threshold segmentation (:func:`medsr.mask.foreground_mask`): its threshold and polarity are
  fixed on the reference and applied unchanged to every prediction; ``otsu`` the same with
  Otsu's threshold. A reference label map instead gives the reference segmentation (labels > 0)
  and the rule for the predictions: the threshold that best reproduces the label map on the
  reference image (highest Dice), inside the labels grown by 3 mm (their neighbourhood, so that
  other structures of the same brightness elsewhere do not count).
* **Overlap** (:func:`overlap`): Dice, both volumes and their difference in mL, and the 95 %
  Hausdorff distance in mm (the larger of the two directed 95th percentiles of surface
  distances, MONAI's ``compute_hausdorff_distance(percentile=95)`` convention).
* **Acquired against unacquired slices** (:func:`acquired_slices`): along the degraded axis,
  the HR slices within half a voxel of an LR slice centre ``j f + (f − 1) / 2`` are "acquired"
  (one slice per LR slice at odd ``f``, two at even ``f``); the rest were never the centre of a
  measurement. PSNR and masked SSIM are reported on each set.

Example:
    >>> import numpy as np
    >>> a = np.zeros((10, 10, 10), bool); a[2:8, 2:8, 2:8] = True
    >>> b = np.roll(a, 1, axis=0)
    >>> r = overlap(a, b, spacing=(1.0, 1.0, 1.0))
    >>> round(r["dice"], 3), r["volume_error_ml"], r["hd95_mm"]
    (0.833, 0.0, 1.0)
    >>> acquired_slices(10, 5).nonzero()[0].tolist()
    [2, 7]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from medsr.errors import InvalidImageError
from medsr.image import Image

#: The region the label-fitted threshold applies in: the labels grown by this (mm).
ROI_MARGIN_MM = 3.0


def acquired_slices(n_hr: int, factor: float) -> np.ndarray:
    """``(n_hr,)`` bool: HR slices within half a voxel of an LR slice centre (the FOV rule)."""
    idx = np.arange(n_hr, dtype=np.float64)
    n_lr = int(np.floor(n_hr / factor + 1e-9))
    centres = np.arange(n_lr) * factor + (factor - 1) / 2
    if centres.size == 0:
        return np.zeros(n_hr, bool)
    return np.min(np.abs(idx[:, None] - centres[None, :]), axis=1) <= 0.5 + 1e-6


def split_scores(
    ref: np.ndarray, pred: np.ndarray, mask: np.ndarray, smap: np.ndarray, dr: float, axis: int, factor: float
) -> dict[str, Any]:
    """PSNR and masked SSIM at acquired and at unacquired slices (``smap`` from
    :func:`medsr.metrics.ssim_map`); ``None`` for an empty set."""
    from medsr.metrics import psnr

    acq = acquired_slices(ref.shape[1 + axis], factor)
    out: dict[str, Any] = {}
    for name, sel in (("acquired", acq), ("unacquired", ~acq)):
        shape = [1, 1, 1]
        shape[axis] = -1
        m = mask & sel.reshape(shape)
        if not m.any():
            out[name] = {"psnr": None, "ssim": None, "slices": int(sel.sum())}
            continue
        p = psnr(ref, pred, m, dr)
        out[name] = {
            "psnr": float(p) if np.isfinite(p) else None,
            "ssim": float(smap[m].mean()),
            "slices": int(sel.sum()),
        }
    return out


def _surface(m: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return m & ~ndimage.binary_erosion(m, border_value=0)


def _hd95(a: np.ndarray, b: np.ndarray, spacing: tuple[float, ...]) -> float | None:
    from scipy import ndimage

    if not a.any() or not b.any():
        return None
    sa, sb = _surface(a), _surface(b)
    to_b = ndimage.distance_transform_edt(~sb, sampling=spacing)
    to_a = ndimage.distance_transform_edt(~sa, sampling=spacing)
    return float(max(np.percentile(to_b[sa], 95), np.percentile(to_a[sb], 95)))


def overlap(ref: np.ndarray, pred: np.ndarray, spacing: Any) -> dict[str, Any]:
    """Dice, volumes (mL), volume error (mL, prediction − reference) and HD95 (mm)."""
    a, b = np.asarray(ref, bool), np.asarray(pred, bool)
    sp = tuple(float(s) for s in spacing)
    voxel_ml = float(np.prod(sp)) / 1000.0
    inter, total = int((a & b).sum()), int(a.sum() + b.sum())
    va, vb = a.sum() * voxel_ml, b.sum() * voxel_ml
    return {
        "dice": (2.0 * inter / total) if total else 1.0,
        "volume_ref_ml": round(float(va), 4),
        "volume_ml": round(float(vb), 4),
        "volume_error_ml": round(float(vb - va), 4),
        "hd95_mm": _hd95(a, b, sp),
    }


def segmenter(reference: Image, spec: str | Image) -> tuple[np.ndarray, Callable[[Image], np.ndarray], dict]:
    """``(reference segmentation, rule for a prediction, record)`` (see the module docstring)."""
    from medsr.mask import _segment

    if isinstance(spec, str):
        ref_mask, info = _segment(reference, spec, None, 0.05)
        t = info["threshold"]

        def rule(img: Image) -> np.ndarray:
            return _segment(img, "threshold", t, 0.05)[0]

        return ref_mask, rule, {"segment": spec, **info}
    from medsr.metrics import same_grid

    labels = np.asarray(spec.data[0]) > 0
    if not same_grid(spec, reference):
        raise InvalidImageError(
            spec.meta.source_path,
            f"the label map ({'×'.join(map(str, spec.shape))} at {spec.spacing.tolist()} mm, origin "
            f"{spec.origin.tolist()}) is not on the reference grid ({'×'.join(map(str, reference.shape))} at "
            f"{reference.spacing.tolist()} mm, origin {reference.origin.tolist()})",
            "give the reference's own segmentation, on its grid",
        )
    if not labels.any():
        raise InvalidImageError(spec.meta.source_path, "the label map is empty", "give a non-empty segmentation")
    roi = _roi(labels, reference.spacing)
    t = _best_threshold(reference.data[0], labels, roi)
    return labels, (lambda img: (np.asarray(img.data[0]) > t) & roi), {"segment": "labels", "threshold": t}


def _roi(labels: np.ndarray, spacing: Any) -> np.ndarray:
    from scipy import ndimage

    dist = ndimage.distance_transform_edt(~labels, sampling=tuple(float(v) for v in spacing))
    return np.asarray(dist <= ROI_MARGIN_MM)


def _best_threshold(img: np.ndarray, labels: np.ndarray, roi: np.ndarray) -> float:
    """The threshold (image units) whose ``img > t`` inside ``roi`` has the highest Dice."""
    vals = np.asarray(img, np.float64)[roi]
    lab = labels[roi]
    best_t, best = float(np.median(vals)), -1.0
    for t in np.quantile(vals, np.linspace(0.01, 0.99, 99)):
        seg = vals > t
        d = 2.0 * np.sum(seg & lab) / max(1, seg.sum() + lab.sum())
        if d > best:
            best_t, best = float(t), d
    return best_t


def downstream(reference: Image, preds: dict[str, Image], spec: str | Image) -> dict[str, Any]:
    """Per prediction (on the reference grid) the :func:`overlap` of its segmentation with the
    reference's, plus ``"rule"``: how both were segmented."""
    ref_mask, rule, info = segmenter(reference, spec)
    out: dict[str, Any] = {"rule": info}
    for name, img in preds.items():
        out[name] = overlap(ref_mask, rule(img), reference.spacing)
    return out
