"""Where each output slice falls between the acquired slices: the geometry every slice
interpolator (:mod:`~medsr.classical.shape`, :mod:`~medsr.classical.registration`,
:mod:`~medsr.classical.labels`) shares.

An output slice ``i`` along the thick axis sits at the continuous LR index
``u = (o_out + i s_out − o_in) / s_in`` (world coordinates along that axis; the grids share their
direction). It is interpolated between LR slices ``j = floor(u)`` and ``j + 1`` with weight
``t = u − j`` on the second; beyond the outer slices the edge slice is repeated (ITK's
nearest-neighbour extrapolation, as :func:`medsr.baselines.resample_to_grid` does). An output
slice with ``t == 0`` is an acquired position and is copied exactly.

Example:
    >>> import numpy as np
    >>> from medsr.geometry import Grid, upsample_grid
    >>> lr = Grid((4, 4, 3), (1.0, 1.0, 4.0), (0.0, 0.0, 1.5), np.eye(3))
    >>> pos = slice_positions(lr, upsample_grid(lr, factors=(1, 1, 4)), axis=2)
    >>> [(int(j), round(float(t), 3)) for j, t in zip(pos.j, pos.t)][:6]
    [(0, 0.0), (0, 0.0), (0, 0.125), (0, 0.375), (0, 0.625), (0, 0.875)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from medsr.errors import GeometryError
from medsr.geometry import Grid

#: ``pair(A, B, ts)`` → one 2D slice per fraction ``t`` in ``ts`` (``0 < t < 1``) between A and B.
PairInterpolator = Callable[[np.ndarray, np.ndarray, np.ndarray], list[np.ndarray]]
Progress = Callable[[int, int], None] | None


@dataclass(frozen=True)
class SlicePositions:
    """Per output slice: the lower LR slice ``j`` and the fraction ``t`` toward ``j + 1``."""

    j: np.ndarray
    t: np.ndarray

    def pairs(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """``(j, output indices, fractions)`` for every LR pair with slices strictly between."""
        inner = self.t > 1e-9
        for j in np.unique(self.j[inner]):
            sel = np.flatnonzero(inner & (self.j == j))
            yield int(j), sel, self.t[sel]


def slice_positions(src: Grid, dst: Grid, axis: int) -> SlicePositions:
    """Bracketing LR slices for every slice of ``dst`` along ``axis`` (grids share a direction)."""
    if not np.allclose(src.direction, dst.direction, atol=1e-6):
        raise GeometryError(None, "the output grid is rotated against the input", "keep the input's direction")
    shift = np.linalg.solve(src.direction, dst.origin - src.origin)[axis] / src.spacing[axis]
    u = shift + np.arange(dst.shape[axis]) * dst.spacing[axis] / src.spacing[axis]
    n = src.shape[axis]
    u = np.clip(u, 0.0, n - 1.0)
    j = np.minimum(np.floor(u + 1e-9), max(0, n - 2)).astype(int)
    t = np.clip(u - j, 0.0, 1.0)
    t[np.abs(t) < 1e-9] = 0.0
    if n == 1:
        j, t = np.zeros_like(j), np.zeros_like(t)
    return SlicePositions(j=j, t=t)


def interpolate_slices(
    data: np.ndarray, axis: int, pos: SlicePositions, pair: PairInterpolator, progress: Progress = None
) -> np.ndarray:
    """``data`` (X, Y, Z) interpolated along ``axis`` at ``pos`` by ``pair``; float32.

    Acquired positions (``t == 0``, and ``t == 1``) are exact copies of the LR slices.
    """
    src = np.moveaxis(np.asarray(data, dtype=np.float32), axis, 0)
    out = np.empty((pos.j.size,) + src.shape[1:], dtype=np.float32)
    exact = pos.t <= 1e-9
    out[exact] = src[pos.j[exact]]
    ones = pos.t >= 1 - 1e-9
    out[ones] = src[np.minimum(pos.j[ones] + 1, src.shape[0] - 1)]
    todo = list(pos.pairs())
    for k, (j, sel, ts) in enumerate(todo):
        keep = ts < 1 - 1e-9
        for i, sl in zip(sel[keep], pair(src[j], src[j + 1], ts[keep]), strict=True):
            out[i] = sl
        if progress:
            progress(k + 1, len(todo))
    return np.moveaxis(out, 0, axis)


def inplane_grid(src: Grid, dst: Grid, axis: int) -> Grid:
    """``dst`` on every axis but ``axis``, where it keeps ``src``'s samples."""
    c = np.linalg.solve(src.direction, dst.origin - src.origin)
    c[axis] = 0.0
    shape = list(dst.shape)
    shape[axis] = src.shape[axis]
    spacing = np.array(dst.spacing, dtype=np.float64)
    spacing[axis] = src.spacing[axis]
    return Grid((int(shape[0]), int(shape[1]), int(shape[2])), spacing, src.origin + src.direction @ c, src.direction)
