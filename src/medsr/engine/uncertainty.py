"""``predict`` with an expected-error map: the bundle on the input and its 180° rotation, calibrated.

The bundle runs on the input and on its 180° rotation in the plane of the first two axes its
architecture sees (2 runs: :func:`medsr.calibration.flip_members` with ``pair=True``). The 4
flips ranked the errors no better (within 0.01 Spearman on unseen images) at twice the time;
the pair's mean improves the output by 0.02–0.15 dB (docs/uncertainty.md). The output is their
mean, and the map is the bundle's :class:`~medsr.calibration.Calibration` (measured at training
time on its validation crops, :mod:`medsr.train.calibrate`) applied to the members' spread, the
output's gradient and its departure from cubic B-spline, in the input's units. A bundle
without a calibration gets the spread itself, labelled uncalibrated.

Example:
    >>> res = predict_uncertainty(medsr.read("xray.dcm"), "xray-x4")   # doctest: +SKIP
    >>> res.uncertainty.shape == res.image.shape                         # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from medsr.image import Image


@dataclass
class PredictResult:
    """The output (mean of the members), its expected |error| (same grid and units) and how."""

    image: Image
    uncertainty: Image
    info: dict[str, Any] = field(default_factory=dict)
    calibration: Any = field(default=None, repr=False)
    foreground: Any = field(default=None, repr=False)

    def interval(self, level: float = 0.9) -> Image:
        """Half-width of the ``level`` interval (same grid and units)."""
        from medsr.calibration import interval_image

        return interval_image(self.uncertainty, self.calibration, level)


def _windows(image: Image, record: dict[str, Any] | None) -> np.ndarray:
    """Input units per normalised unit, per channel ``(C, 1, 1, 1)``."""
    from medsr.engine.predict import _normalizer

    norm = _normalizer(image, record or {})
    if norm is None:
        return np.ones((image.channels, 1, 1, 1), np.float32)
    k = np.asarray(norm.hi, np.float32) - np.asarray(norm.lo, np.float32)
    return np.broadcast_to(k, (image.channels,)).reshape(-1, 1, 1, 1).astype(np.float32)


@lru_cache(maxsize=8)
def _sparse_bspline(n_hr: int, n_lr: int) -> Any:
    """:func:`medsr.selfsup.operators.bspline_matrix` as a CSR matrix, entries below 1e-6
    dropped (its impulse responses decay as 0.27^k: about 20 taps a row, 3e-6 from dense)."""
    from scipy import sparse

    from medsr.selfsup.operators import bspline_matrix

    m = bspline_matrix(n_hr, n_lr, n_hr / n_lr)
    return sparse.csr_matrix(np.where(np.abs(m) > 1e-6, m, 0.0).astype(np.float32))


def _bspline(data: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Cubic B-spline of ``data`` ``(C, X, Y, Z)`` onto ``shape`` in index space (the field of
    view preserved, as the grids are), whatever the image's orientation."""
    out = np.asarray(data, np.float32)
    for a, n in enumerate(shape):
        if n != out.shape[1 + a]:
            moved = np.moveaxis(out, 1 + a, 0)
            up = _sparse_bspline(n, moved.shape[0]) @ moved.reshape(moved.shape[0], -1)
            out = np.moveaxis(np.asarray(up, np.float32).reshape((n,) + moved.shape[1:]), 0, 1 + a)
    return out


def _foreground(image: Image, shape: tuple[int, ...]) -> np.ndarray:
    """The input's foreground (:func:`medsr.mask.training_mask`) on the output grid ``shape``."""
    from medsr.mask import mask_on_grid, training_mask

    grey = image if image.channels == 1 else image.with_data(image.data.mean(0, keepdims=True))
    return mask_on_grid(training_mask(grey), shape)


def predict_uncertainty(
    image: Image, bundle: Any, *, unsure_threshold: float | None = None, **options: Any
) -> PredictResult:
    """:func:`medsr.engine.predict.predict` with the expected-error map (2 runs of the bundle).

    ``unsure_threshold``: expected |error| (image units) of the trust summary (default
    :func:`medsr.trust.default_threshold`); ``options`` go to
    :func:`~medsr.engine.predict.predict`.
    """
    from medsr.calibration import Calibration, error_features, flip_members
    from medsr.engine.layout import plan_layout
    from medsr.engine.predict import _load, predict
    from medsr.trust import trust_record

    b = _load(bundle)
    layout = plan_layout(image.shape, image.spacing, image.is_2d, b.descriptor.spatial_dims, b.meta.factors, None)
    axes = tuple(1 + int(a) for a in layout.arch_axes if image.shape[int(a)] > 1)[:2]
    grid: dict[str, Image] = {}

    def run(arr: np.ndarray) -> np.ndarray:
        out = predict(image.with_data(arr), b, **options)
        grid.setdefault("first", out)
        return out.data

    mean, spread = flip_members(run, image.data, axes, pair=True)
    first = grid["first"]
    k = _windows(image, b.meta.normalization)
    bs = _bspline(image.data, first.shape)
    record = b.meta.extra.get("calibration")
    cal = Calibration.from_dict(record) if record else None
    if cal is None:
        expected = spread
    else:
        fe = error_features(spread / k, mean / k, mean / k, bs / k, axes)
        expected = cal.expected(fe) * k
    fg = _foreground(image, first.shape)
    worst = np.max(expected, axis=0)  # RGB: the worst channel
    info = {
        "map": "expected |error| (calibrated on the bundle's validation crops)"
        if cal
        else "spread over flips (uncalibrated)",
        "members": f"identity and the 180° rotation in the plane of array axes {list(axes)}; output = their mean",
        "units": image.meta.units,
        "calibration": {"model": record, "calibrated": True} if record else {"calibrated": False},
        "trust": trust_record(worst, fg, image.meta.modality, image.meta.units, float(k.mean()), unsure_threshold),
    }
    sr = first.with_data(mean)
    sr.meta.history[-1] = {**sr.meta.history[-1], "members": "flips", "uncertainty": True}
    unc = first.with_data(expected.astype(np.float32))
    return PredictResult(image=sr, uncertainty=unc, info=info, calibration=cal, foreground=fg)
