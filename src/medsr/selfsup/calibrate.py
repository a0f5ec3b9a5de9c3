"""Calibrating ``enhance``'s expected-error map on sharp planes the fit never saw.

A few sharp planes of the scan (:func:`holdout_planes`: about one in ten, evenly spaced among
those with foreground) are kept out of the training pairs. After the fit each is degraded along
either sharp axis with the same acquisition model as the training pairs, restored by the
network with its flips, projected onto data consistency along the degraded axis, and compared
with the plane itself. Their features and errors fit the map (:mod:`medsr.calibration`);
alternate planes cross-fit the calibration table written to the sidecar.

The planes' own noise is part of their "truth", and their content is in-plane anatomy rather
than through-plane: docs/uncertainty.md gives what this costs, measured.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np

from medsr.acquisition.consistency import Consistency
from medsr.acquisition.profile import SliceProfile
from medsr.calibration import FEATURES, Calibration, error_features, fit_calibration
from medsr.selfsup.operators import AxisOperators

log = logging.getLogger(__name__)

#: Fraction of the sharp planes held out of training, and the bounds on their number.
HOLDOUT_FRACTION, MIN_HOLDOUT, MAX_HOLDOUT = 0.1, 2, 12
#: Fewest foreground voxels worth a calibration (else the map is the flips' spread).
MIN_VOXELS = 2000


def holdout_planes(mask: np.ndarray) -> np.ndarray:
    """Indices along N of the planes of ``mask`` ``(N, A, B)`` to hold out (evenly spaced among
    those with foreground; none when fewer than 2 × :data:`MIN_HOLDOUT` planes have any).

    Example:
        >>> m = np.zeros((40, 4, 4), bool); m[5:35] = True
        >>> holdout_planes(m).tolist()
        [5, 34, 19]
    """
    fg = np.flatnonzero(mask.reshape(mask.shape[0], -1).any(1))
    if fg.size < 2 * MIN_HOLDOUT:
        return np.zeros(0, int)
    n = int(np.clip(round(HOLDOUT_FRACTION * fg.size), MIN_HOLDOUT, MAX_HOLDOUT))
    # outermost first, then the middle: any prefix spans the foreground
    pick = np.linspace(0, fg.size - 1, n).round().astype(int)
    order = np.argsort(-np.abs(pick - (fg.size - 1) / 2), kind="stable")
    return fg[pick[order]]


def _restore_axis(
    net: Any, planes: np.ndarray, prof: SliceProfile, f: float, spec: Any
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Degrade ``planes`` ``(P, n, m)`` along axis 1 by ``f`` samples with ``prof``, restore →
    (features, restored), all ``(P, n, m)`` normalised."""
    from medsr.selfsup.infer import run_planes

    ops = AxisOperators.build(prof, n_hr=planes.shape[1], spacing_hr=1.0, spacing_lr=float(f))
    y = np.matmul(ops.W.astype(np.float32), planes)
    inp = np.matmul(ops.U.astype(np.float32), y)
    mean, spread = run_planes(net, inp, spec)
    post = Consistency(W=ops.W, P=ops.P).project(mean, y, axis=1)
    return error_features(spread, mean, post, inp, axis=1), post


def calibrate_on_planes(
    net: Any,
    normalised: np.ndarray,
    mask: np.ndarray,
    train_factors: list[tuple[float, float]],
    profiles: SliceProfile | dict[int, SliceProfile],
    spec: Any,
) -> tuple[Calibration | None, dict[str, Any]]:
    """Fit the expected-error map on the held-out planes.

    Args:
        net: the fitted network; spec: the inference settings (flips, precision, tiles).
        normalised: the held-out planes ``(P, A, B)``, normalised; mask: their foreground.
        train_factors: ``(f, t)`` for degrading along A and along B, in samples of that axis.
        profiles: the slice profile (thickness replaced by ``t``) or one per axis.

    Returns:
        The calibration (``None`` with too few foreground voxels) and a JSON-able record.
    """
    feats: dict[str, list[np.ndarray]] = {k: [] for k in FEATURES}
    errs, groups = [], []
    parity = (np.arange(normalised.shape[0]) % 2)[:, None, None]
    for axis, (f, t) in enumerate(train_factors):
        prof = profiles[axis] if isinstance(profiles, dict) else replace(profiles, thickness_mm=float(t))
        planes, m = (normalised, mask) if axis == 0 else (normalised.transpose(0, 2, 1), mask.transpose(0, 2, 1))
        planes = np.ascontiguousarray(planes, dtype=np.float32)
        fe, post = _restore_axis(net, planes, prof, f, spec)
        for k in FEATURES:
            feats[k].append(fe[k][m])
        errs.append(np.abs(post - planes)[m])
        groups.append(np.broadcast_to(parity, m.shape)[m])
    err = np.concatenate(errs)
    record: dict[str, Any] = {"held_out_planes": int(normalised.shape[0]), "voxels": int(err.size)}
    if err.size < MIN_VOXELS or normalised.shape[0] < 2:
        log.warning("only %d held-out voxels: the uncertainty map is the flips' spread, uncalibrated", err.size)
        return None, {**record, "calibrated": False}
    cal = fit_calibration({k: np.concatenate(v) for k, v in feats.items()}, err, np.concatenate(groups))
    return cal, {**record, "calibrated": True}
