"""One number per output: how much of the foreground may be wrong by more than a threshold.

The expected-error map (:mod:`medsr.calibration`) is thresholded in the image's units: 20 HU
for CT (:data:`CT_THRESHOLD_HU`), else :data:`RELATIVE_THRESHOLD` of the intensity window the
run normalised with (MR and other units have no absolute scale). The summary gives the fraction
of foreground voxels above it, their count and bounding box (voxel indices, X Y Z); the mask
itself is what ``--flag-unsure`` writes.

Example:
    >>> import numpy as np
    >>> exp = np.zeros((4, 4, 4), np.float32); exp[0, 0, :2] = 30.0
    >>> s = trust_summary(exp, np.ones((4, 4, 4), bool), 20.0, "HU")
    >>> s["unsure_fraction"], s["unsure_voxels"], s["bounding_box"]
    (0.03125, 2, [[0, 0], [0, 0], [0, 1]])
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Expected |error| above which a CT voxel counts as unsure (HU).
CT_THRESHOLD_HU = 20.0
#: For other modalities: this fraction of the intensity window (p0.5–p99.5).
RELATIVE_THRESHOLD = 0.05


def default_threshold(modality: str | None, window: float) -> tuple[float, str]:
    """The threshold (image units) and how it was chosen."""
    if (modality or "").upper() == "CT":
        return CT_THRESHOLD_HU, "the CT default"
    return RELATIVE_THRESHOLD * float(window), f"{RELATIVE_THRESHOLD:.0%} of the intensity window {window:.4g}"


def unsure_mask(expected: np.ndarray, foreground: np.ndarray, threshold: float) -> np.ndarray:
    """Foreground voxels whose expected |error| exceeds ``threshold``."""
    return np.asarray(foreground, bool) & (np.asarray(expected) > np.float32(threshold))


def trust_summary(expected: np.ndarray, foreground: np.ndarray, threshold: float, units: str | None) -> dict[str, Any]:
    """The sidecar's ``trust`` section for one expected-error map ``(X, Y, Z)``."""
    fg = np.asarray(foreground, bool)
    flagged = unsure_mask(expected, fg, threshold)
    n_fg, n = int(fg.sum()), int(flagged.sum())
    box = None
    if n:
        idx = np.nonzero(flagged)
        box = [[int(i.min()), int(i.max())] for i in idx]
    vals = np.asarray(expected)[fg]
    return {
        "threshold": float(threshold),
        "units": units,
        "unsure_fraction": n / n_fg if n_fg else 0.0,
        "unsure_voxels": n,
        "foreground_voxels": n_fg,
        "bounding_box": box,
        "median_expected_error": float(np.median(vals)) if vals.size else 0.0,
    }


def trust_record(
    expected: np.ndarray,
    foreground: np.ndarray,
    modality: str | None,
    units: str | None,
    window: float,
    threshold: float | None = None,
) -> dict[str, Any]:
    """:func:`trust_summary` at ``threshold`` (default :func:`default_threshold`), with its rule."""
    rule = "given"
    if threshold is None:
        threshold, rule = default_threshold(modality, window)
    return {**trust_summary(expected, foreground, threshold, units), "rule": rule}
