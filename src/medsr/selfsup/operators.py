"""Linear operators along one axis: the acquisition (slice profile), cubic B-spline
interpolation back onto the fine grid, and the data-consistency projector.

All matrices act on index space: a fine ("HR") axis of ``n_hr`` samples of spacing ``h`` mm
and a coarse ("LR") axis whose sample ``j`` is centred at fine index ``j f + (f - 1) / 2``
with ``f = spacing_lr / h`` (any real ≥ 1; the field-of-view rule of :mod:`medsr.geometry`).

Example:
    >>> from medsr.acquisition.profile import SliceProfile
    >>> ops = AxisOperators.build(SliceProfile("rect", 4.0), n_hr=16, spacing_hr=1.0, spacing_lr=4.0)
    >>> ops.W.shape, ops.U.shape, ops.P.shape
    ((4, 16), (16, 4), (16, 4))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medsr.acquisition.consistency import consistency_projector
from medsr.acquisition.profile import SliceProfile


def bspline_matrix(n_hr: int, n_lr: int, f: float) -> np.ndarray:
    """``(n_hr, n_lr)`` cubic B-spline interpolation from LR samples onto the fine grid.

    Fine index ``i`` sits at LR coordinate ``(i + 0.5) / f - 0.5``; beyond the outer LR
    samples the signal is extended by its edge value (as ITK's nearest extrapolator does).
    """
    from scipy import ndimage

    u = (np.arange(n_hr, dtype=np.float64) + 0.5) / f - 0.5
    eye = np.eye(n_lr, dtype=np.float64)
    order = 3 if n_lr >= 4 else 1
    U = np.empty((n_hr, n_lr), dtype=np.float64)
    for j in range(n_lr):  # the interpolant of each unit impulse is one column
        U[:, j] = ndimage.map_coordinates(eye[:, j], u[None], order=order, mode="nearest")
    return U


@dataclass(frozen=True)
class AxisOperators:
    """The operators of one thick axis.

    Attributes:
        W: ``(n_lr, n_hr)`` acquisition (rows sum to 1).
        U: ``(n_hr, n_lr)`` cubic B-spline interpolation.
        P: ``(n_hr, n_lr)`` data-consistency projector, ``x + P (y - W x)``.
        f: spacing ratio LR/HR; t: thickness in fine samples.
    """

    W: np.ndarray
    U: np.ndarray
    P: np.ndarray
    f: float
    t: float

    @classmethod
    def build(
        cls, profile: SliceProfile, n_hr: int, spacing_hr: float, spacing_lr: float, n_lr: int | None = None
    ) -> AxisOperators:
        f = float(spacing_lr) / float(spacing_hr)
        W = profile.matrix(n_hr, spacing_hr=spacing_hr, spacing_lr=spacing_lr, n_lr=n_lr)
        U = bspline_matrix(n_hr, W.shape[0], f)
        return cls(W=W, U=U, P=consistency_projector(W), f=f, t=float(profile.thickness_mm) / float(spacing_hr))

    @property
    def A(self) -> np.ndarray:
        """``(n_hr, n_hr)`` degrade-then-interpolate operator ``U W`` (makes training inputs)."""
        return self.U @ self.W
