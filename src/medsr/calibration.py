"""Calibrated expected error: from cheap per-voxel features to ``E|error|`` in the image's units.

The truth is never there at run time, so the map is calibrated on restorations whose truth is
known: planes the fit never saw, degraded with the same acquisition model (``enhance``), or
validation images (bundles). Four features are computed the same way on those and on the
output, in normalised intensity units:

* ``spread``: the standard deviation of the network over the flips it was trained with
  (a member set; averaged over the orientations at run time);
* ``dc``: the size of the data-consistency correction ``|P (y - W x)|``;
* ``grad``: the output's gradient magnitude along the restored axis;
* ``sr_bs``: how far the output departs from the cubic B-spline of the input.

A log-linear model ``log|e| ≈ β · log(features)`` gives a score that ranks the voxels; the
score's deciles on the calibration set are then scaled to their observed mean ``|e|``
(piecewise, proportional beyond the outer deciles), so each decile of the map reads as the
error it stands for. The ``level`` interval half-width is the ``level`` quantile of
``|e| / expected`` on the calibration set times the map. The calibration table is measured on
half the calibration planes after fitting on the other half (cross-fitting), so it is not its
own training data.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> s = rng.uniform(0.01, 0.1, 20000).astype(np.float32)
    >>> feats = {k: s for k in FEATURES}
    >>> err = np.abs(rng.normal(0, 1, s.size)) * s * 3
    >>> cal = fit_calibration(feats, err, groups=np.arange(s.size) % 2)
    >>> exp = cal.expected(feats)
    >>> bool(abs(exp.mean() / err.mean() - 1) < 0.05), round(cal.coverage, 1)
    (True, 0.9)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: The features of :func:`fit_calibration`, in the order of the model's coefficients.
FEATURES = ("spread", "dc", "grad", "sr_bs")
_EPS = 1e-4  # normalised units (the p0.5–p99.5 window is 1)
_BINS = 10
_MAX_FIT = 400_000
_LUT = 4096


def error_features(
    spread: np.ndarray, pre: np.ndarray, post: np.ndarray, bspline: np.ndarray, axis: int | tuple[int, ...]
) -> dict[str, np.ndarray]:
    """The features of ``post`` (the projected estimate), all arrays of one shape.

    Args:
        spread: member standard deviation; pre / post: estimate before and after the
            data-consistency projection (the same array where there is none); bspline: the
            input's cubic B-spline on the same grid;
        axis: the restored axis (or axes: the gradient magnitude over them) of these arrays.
    """
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    grads = [np.gradient(post, axis=a) for a in axes if post.shape[a] > 1]
    grad = np.sqrt(sum(g * g for g in grads)) if grads else np.zeros_like(post)
    return {
        "spread": np.fmax(np.asarray(spread, np.float32), np.float32(0)),  # resampling lobes can dip below 0
        "dc": np.abs(post - pre).astype(np.float32, copy=False),
        "grad": np.asarray(grad, np.float32),
        "sr_bs": np.abs(post - bspline).astype(np.float32, copy=False),
    }


def flip_members(fn: Any, x: np.ndarray, axes: tuple[int, ...], *, pair: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of ``fn`` over the flips of ``x`` along the first two
    ``axes`` (identity, either, both: 4 members), each output flipped back; ``pair``: identity
    and both (the 180° rotation: 2 members, half the time).

    ``fn`` maps an array to one whose ``axes`` flip with the input's (an upsampler by pixel
    shuffle does: LR voxel ``j`` becomes HR voxels ``j f … j f + f - 1``).

    Example:
        >>> m, s = flip_members(lambda a: a * 2, np.arange(6.0).reshape(2, 3), (0, 1))
        >>> m.tolist(), float(s.max())
        ([[0.0, 2.0, 4.0], [6.0, 8.0, 10.0]], 0.0)
    """
    both = tuple(axes[:2])
    singles = [(a,) for a in both] if len(both) == 2 else []
    sets: list[tuple[int, ...]] = [(), both] if pair else [(), *singles, both]

    def member(dims: tuple[int, ...]) -> np.ndarray:
        y = np.asarray(fn(np.ascontiguousarray(np.flip(x, dims) if dims else x)), np.float32)
        return np.flip(y, dims) if dims else y

    if len(sets) == 2:  # two members: the mean and half their difference, without Welford's passes
        a, b = member(sets[0]), member(sets[1])
        diff = np.subtract(a, b)
        return np.multiply(np.add(a, b), np.float32(0.5)), np.multiply(np.abs(diff, out=diff), np.float32(0.5))
    mean = member(sets[0]).copy()
    m2 = np.zeros_like(mean)
    for k, dims in enumerate(sets[1:], start=2):  # Welford's running mean and variance (3 arrays)
        y = member(dims)
        delta = y - mean
        mean += delta / np.float32(k)
        m2 += delta * (y - mean)
    return mean, np.sqrt(m2 / np.float32(len(sets))).astype(np.float32)


def _design(features: Mapping[str, np.ndarray]) -> np.ndarray:
    cols = [np.log(np.fmax(np.asarray(features[k], np.float64).reshape(-1), 0.0) + _EPS) for k in FEATURES]
    return np.stack(cols + [np.ones_like(cols[0])], axis=1)


@dataclass(frozen=True)
class Calibration:
    """A fitted feature → expected-|error| map (normalised units; multiply by the window).

    Attributes:
        beta: coefficients of :data:`FEATURES` and the intercept (log-linear score).
        centres / ratios: median score and observed/modelled error of each calibration decile.
        quantiles: ``{level: q}`` with ``|e| ≤ q × expected`` for that fraction of voxels.
        table: per decile of the map on the held-out half, ``predicted`` and ``observed`` mean
            ``|e|`` (normalised units); coverage: of the 0.9 interval there; voxels: how many.
    """

    beta: tuple[float, ...]
    centres: tuple[float, ...]
    ratios: tuple[float, ...]
    quantiles: dict[float, float]
    table: list[dict[str, float]] = field(default_factory=list)
    coverage: float = float("nan")
    voxels: int = 0

    def expected(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """Expected ``|error|`` (normalised units), shaped like the features (float32)."""
        score = np.full(np.shape(features[FEATURES[0]]), self.beta[-1], np.float32)
        for k, b in zip(FEATURES, self.beta, strict=False):
            # fmax: a feature resampled with negative lobes (or NaN) counts as 0, never as NaN
            score += np.float32(b) * np.log(
                np.fmax(np.asarray(features[k], np.float32), np.float32(0)) + np.float32(_EPS)
            )
        return np.exp(score) * self._ratio(score)

    def _ratio(self, score: np.ndarray) -> np.ndarray:
        """The decile scaling at ``score``: linear between decile centres, constant beyond, read
        from a 4097-entry table (within 1e-3 of ``np.interp``, several times faster)."""
        lo, hi = self.centres[0], self.centres[-1]
        if not hi > lo:
            return np.full(score.shape, self.ratios[0], np.float32)
        lut = np.interp(np.linspace(lo, hi, _LUT + 1), self.centres, self.ratios).astype(np.float32)
        idx = np.clip((score - np.float32(lo)) * np.float32(_LUT / (hi - lo)) + np.float32(0.5), 0, _LUT)
        return lut[np.nan_to_num(idx, copy=False).astype(np.int32)]

    def half_width(self, expected: np.ndarray, level: float) -> np.ndarray:
        """Half-width of the ``level`` interval (same units as ``expected``)."""
        lv = min(self.quantiles, key=lambda q: abs(q - level))
        if abs(lv - level) > 1e-6:
            raise ValueError(f"no {level} interval calibrated (have {sorted(self.quantiles)})")
        return (expected * np.float32(self.quantiles[lv])).astype(np.float32)

    def to_dict(self, scale: float = 1.0) -> dict[str, Any]:
        """JSON-able: the model and its calibration table in units of ``scale``."""
        return {
            "features": list(FEATURES),
            "beta": [round(b, 6) for b in self.beta],
            "centres": [round(c, 6) for c in self.centres],
            "ratios": [round(r, 6) for r in self.ratios],
            "interval_quantiles": {str(k): round(v, 4) for k, v in self.quantiles.items()},
            "deciles": [{k: round(v * scale, 6) for k, v in row.items()} for row in self.table],
            "coverage_90": round(self.coverage, 4),
            "voxels": self.voxels,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Calibration:
        return cls(
            beta=tuple(float(b) for b in d["beta"]),
            centres=tuple(float(c) for c in d["centres"]),
            ratios=tuple(float(r) for r in d["ratios"]),
            quantiles={float(k): float(v) for k, v in d["interval_quantiles"].items()},
            table=[dict(r) for r in d.get("deciles", [])],
            coverage=float(d.get("coverage_90", float("nan"))),
            voxels=int(d.get("voxels", 0)),
        )


def interval_image(uncertainty: Any, calibration: Calibration | None, level: float) -> Any:
    """The ``level`` interval half-width of an expected-error :class:`~medsr.image.Image`
    (same grid and units); a :class:`~medsr.errors.ConfigError` when it was not calibrated."""
    from medsr.errors import ConfigError

    if calibration is not None and any(abs(q - level) < 1e-6 for q in calibration.quantiles):
        return uncertainty.with_data(calibration.half_width(uncertainty.data, level))
    have = sorted(calibration.quantiles) if calibration is not None else []
    raise ConfigError(None, f"no calibrated {level} interval (calibrated: {have})", "use one of those levels")


def _fit(features: Mapping[str, np.ndarray], err: np.ndarray, levels: tuple[float, ...]) -> Calibration:
    X = _design(features)
    beta, *_ = np.linalg.lstsq(X, np.log(err + _EPS), rcond=None)
    score = X @ beta
    edges = np.quantile(score, np.linspace(0, 1, _BINS + 1))
    which = np.clip(np.searchsorted(edges, score, side="right") - 1, 0, _BINS - 1)
    centres, ratios = [], []
    for b in range(_BINS):
        sel = which == b
        if sel.any():
            centres.append(float(np.median(score[sel])))
            ratios.append(float(err[sel].mean() / max(np.exp(score[sel]).mean(), 1e-12)))
    order = np.argsort(centres)
    cal = Calibration(
        tuple(float(b) for b in beta), tuple(np.asarray(centres)[order]), tuple(np.asarray(ratios)[order]), {}
    )
    exp = cal.expected({k: features[k] for k in FEATURES})
    q = {lv: float(np.quantile(err / np.maximum(exp, 1e-12), lv)) for lv in levels}
    return Calibration(cal.beta, cal.centres, cal.ratios, q)


def decile_table(expected: np.ndarray, err: np.ndarray, bins: int = _BINS) -> list[dict[str, float]]:
    """Per decile of ``expected``: its mean (``predicted``) and the mean ``err`` (``observed``)."""
    expected, err = np.asarray(expected, np.float64).reshape(-1), np.asarray(err, np.float64).reshape(-1)
    order = np.argsort(expected, kind="stable")
    return [
        {"predicted": float(expected[part].mean()), "observed": float(err[part].mean())}
        for part in np.array_split(order, bins)
        if part.size
    ]


def fit_calibration(
    features: Mapping[str, np.ndarray],
    err: np.ndarray,
    groups: np.ndarray | None = None,
    levels: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95),
    seed: int = 0,
) -> Calibration:
    """Fit the map on voxels with known ``|error|`` ``err`` (1-D, normalised units).

    ``groups`` (0/1 per voxel, e.g. plane parity) cross-fits the reported table: fit on 0,
    measure on 1; the returned model is then fitted on all voxels. Without groups the table is
    measured in-sample.
    """
    err = np.asarray(err, np.float64).reshape(-1)
    feats = {k: np.asarray(features[k], np.float64).reshape(-1) for k in FEATURES}
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(err.size, _MAX_FIT, replace=False)) if err.size > _MAX_FIT else slice(None)
    err = err[keep]
    feats = {k: v[keep] for k, v in feats.items()}
    g = None if groups is None else np.asarray(groups).reshape(-1)[keep]
    full = _fit(feats, err, levels)
    if g is not None and (g == 0).any() and (g == 1).any():
        part = _fit({k: v[g == 0] for k, v in feats.items()}, err[g == 0], (0.9,))
        test = {k: v[g == 1] for k, v in feats.items()}
        exp, e = part.expected(test), err[g == 1]
    else:
        part, exp, e = full, full.expected(feats), err
    cover = float(np.mean(e <= part.quantiles[0.9] * exp))
    return Calibration(full.beta, full.centres, full.ratios, full.quantiles, decile_table(exp, e), cover, int(err.size))
