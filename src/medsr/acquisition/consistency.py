"""The data-consistency projector: the one place medsr makes an output reproduce its input.

For an acquisition ``W`` (``(m, n)``: ``m`` acquired samples from ``n`` fine ones along one
axis) and an acquired signal ``y``, the projection of an estimate ``x`` is
``x + P (y − W x)`` with ``P = Wᵀ (W Wᵀ + εI)⁻¹``: the point nearest ``x`` whose degradation
``W x`` equals ``y`` (an orthogonal projection, so applying it twice changes nothing). Used by
``medsr enhance`` on every column of the thick axis, and by :func:`project_consistent`.

Example:
    >>> import numpy as np
    >>> W = np.kron(np.eye(3), np.full((1, 2), 0.5))          # 2-voxel rect slices, 6 → 3
    >>> dc = Consistency.from_operator(W)
    >>> x, y = np.zeros((6, 2)), np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    >>> np.allclose(dc.W @ dc.project(x, y), y)
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def consistency_projector(W: np.ndarray, ridge: float = 1e-6) -> np.ndarray:
    """``P = Wᵀ (W Wᵀ + ridge·tr/m I)⁻¹`` (n, m), the pseudo-inverse that projects onto ``W x = y``."""
    W = np.asarray(W, dtype=np.float64)
    gram = W @ W.T
    gram[np.diag_indices_from(gram)] += ridge * np.trace(gram) / max(1, gram.shape[0])
    return W.T @ np.linalg.inv(gram)


def noise_gain(P: np.ndarray, margin: int = 0) -> float:
    """RMS gain of the projector ``P`` (n, m) on white noise in the acquired samples: the sd the
    projection gives each fine sample per unit sd of the input's noise (1 for contiguous rect
    slices; above 1 where a wide profile must be inverted). ``margin`` fine rows at each end are
    left out (edge effects).

    Example:
        >>> W = np.kron(np.eye(4), np.full((1, 3), 1 / 3))      # contiguous 3-voxel rect slices
        >>> round(noise_gain(consistency_projector(W)), 3)
        1.0
    """
    rows = P[margin : P.shape[0] - margin] if P.shape[0] > 2 * margin else P
    return float(np.sqrt(np.sum(rows**2) / max(1, rows.shape[0])))


def along(M: np.ndarray, x: np.ndarray, axis: int = 0) -> np.ndarray:
    """``M`` (m, n) applied along ``axis`` (size n) of ``x``, in ``x``'s float type → size m there."""
    moved = np.moveaxis(x, axis, 0)
    out = (M.astype(x.dtype, copy=False) @ moved.reshape(moved.shape[0], -1)).reshape((M.shape[0],) + moved.shape[1:])
    return np.moveaxis(out, 0, axis)


@dataclass(frozen=True)
class Consistency:
    """``W`` and its projector ``P`` along one axis (float64; applied in the data's float type)."""

    W: np.ndarray
    P: np.ndarray

    @classmethod
    def from_operator(cls, W: np.ndarray, ridge: float = 1e-6) -> Consistency:
        W = np.asarray(W, dtype=np.float64)
        return cls(W=W, P=consistency_projector(W, ridge))

    def residual(self, x: np.ndarray, y: np.ndarray, axis: int = 0) -> np.ndarray:
        """``y − W x`` along ``axis``."""
        return np.asarray(y, dtype=x.dtype) - along(self.W, x, axis)

    def project(self, x: np.ndarray, y: np.ndarray, axis: int = 0, *, inplace: bool = False) -> np.ndarray:
        """``x + P (y − W x)`` along ``axis``; with ``inplace`` ``x`` itself is updated."""
        step = along(self.P, self.residual(x, y, axis), axis)
        if inplace:
            x += step
            return x
        return x + step


@dataclass(frozen=True)
class Separable:
    """An acquisition along several axes at once, ``W = W_a ⊗ W_b`` (a 2D image's pixels), and
    its projector ``P_a ⊗ P_b``: the pseudo-inverse of a Kronecker product is the product of the
    pseudo-inverses, so the projection stays exact and orthogonal.

    Example:
        >>> W = np.kron(np.eye(2), np.full((1, 2), 0.5))          # 4 → 2 along each axis
        >>> dc = Separable((Consistency.from_operator(W),) * 2, axes=(0, 1))
        >>> y = np.array([[1.0, 2.0], [3.0, 4.0]])
        >>> np.allclose(dc.degrade(dc.project(np.zeros((4, 4)), y)), y)
        True
    """

    parts: tuple[Consistency, ...]
    axes: tuple[int, ...]

    def degrade(self, x: np.ndarray) -> np.ndarray:
        """``W x``: every axis acquired."""
        for part, axis in zip(self.parts, self.axes, strict=True):
            x = along(part.W, x, axis)
        return x

    def residual(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.asarray(y, dtype=x.dtype) - self.degrade(x)

    def project(self, x: np.ndarray, y: np.ndarray, *, inplace: bool = False) -> np.ndarray:
        """``x + P (y − W x)``; with ``inplace`` ``x`` itself is updated."""
        step = self.residual(x, y)
        for part, axis in zip(self.parts, self.axes, strict=True):
            step = along(part.P, step, axis)
        if inplace:
            x += step
            return x
        return x + step
