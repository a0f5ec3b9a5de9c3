"""Which image axes an architecture sees, and how blocks become network batches.

An image is ``(C, X, Y, Z)``. A 3D architecture sees three image axes (``arch_axes``, a
permutation of 0, 1, 2); a 2D architecture sees two of them as a plane and runs slice by slice
along the third (``batch_axis``), the slices of a block forming the batch. The default puts
the image's thickest axis (largest spacing) on the architecture axis with the largest factor,
so a through-plane model ``(1, 4)`` or ``(1, 1, 4)`` upsamples the thick axis whatever the
orientation; with equal factors the identity (planes = XY, slices along Z) is used. A 2D image
(Z = 1) always uses X and Y.

Example:
    >>> lay = plan_layout((64, 64, 20), (1.0, 1.0, 4.0), False, 2, (1, 4))
    >>> lay.arch_axes, lay.batch_axis, lay.scale
    ((0, 2), 1, (1, 1, 4))
    >>> b = np.zeros((1, 8, 3, 5), np.float32)      # (C, X, Y, Z) block
    >>> to_batch(b, lay).shape                       # (Y slices, C, X, Z)
    (3, 1, 8, 5)
    >>> from_batch(np.zeros((3, 1, 8, 20)), lay).shape
    (1, 8, 3, 20)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from medsr.errors import ConfigError


@dataclass(frozen=True)
class Layout:
    """``arch_axes[i]`` is the image axis fed to architecture axis ``i``; ``batch_axis`` the
    image axis sliced into the batch (2D architectures) or ``None``; ``scale`` the factor per
    image axis (X, Y, Z)."""

    arch_axes: tuple[int, ...]
    batch_axis: int | None
    scale: tuple[int, int, int]

    @property
    def perm(self) -> tuple[int, ...]:
        """Transpose of a ``(C, X, Y, Z)`` block into the network layout (batch first)."""
        if self.batch_axis is None:
            return (0,) + tuple(1 + a for a in self.arch_axes)
        return (1 + self.batch_axis, 0) + tuple(1 + a for a in self.arch_axes)


def plan_layout(
    shape: Sequence[int],
    spacing: ArrayLike,
    is_2d: bool,
    spatial_dims: int,
    factors: Sequence[int],
    axes: Sequence[int] | None = None,
) -> Layout:
    """Map an architecture with per-axis ``factors`` onto an image of spatial ``shape``.

    ``axes`` overrides the choice: the image axes (0 = X, 1 = Y, 2 = Z) fed to the
    architecture's axes in order.
    """
    fac = tuple(int(f) for f in factors)
    if len(fac) != spatial_dims:
        raise ConfigError(None, f"{spatial_dims}D architecture got factors {fac}", "give one factor per axis")
    if axes is not None:
        arch_axes = tuple(int(a) for a in axes)
        if (
            len(arch_axes) != spatial_dims
            or len(set(arch_axes)) != spatial_dims
            or any(a not in (0, 1, 2) for a in arch_axes)
        ):
            raise ConfigError(
                None,
                f"axes {list(arch_axes)} must be {spatial_dims} distinct image axes of 0, 1, 2",
                "e.g. --axes 0 2 for an XZ-plane model",
            )
    else:
        arch_axes = _default_axes(shape, spacing, is_2d, spatial_dims, fac)
    if is_2d and spatial_dims == 3 and fac[arch_axes.index(2)] > 1:
        raise ConfigError(
            None, f"a 2D image cannot be upsampled along Z by factors {fac}", "use an in-plane model or a volume"
        )
    scale = [1, 1, 1]
    for a, f in zip(arch_axes, fac, strict=False):
        scale[a] = f
    batch = None if spatial_dims == 3 else next(a for a in (0, 1, 2) if a not in arch_axes)
    return Layout(arch_axes, batch, (scale[0], scale[1], scale[2]))


def _default_axes(
    shape: Sequence[int], spacing: ArrayLike, is_2d: bool, dims: int, fac: tuple[int, ...]
) -> tuple[int, ...]:
    candidates = [0, 1] if is_2d else [0, 1, 2]
    ident = tuple(range(dims))
    if len(set(fac)) == 1:
        return ident
    sp = np.asarray(spacing, dtype=np.float64)
    thick = max(candidates, key=lambda a: (float(sp[a]), -a))
    if float(sp[thick]) <= min(float(sp[a]) for a in candidates):  # isotropic: keep order
        return ident
    k = int(np.argmax(fac))
    others = [a for a in (candidates if dims == 2 else [0, 1, 2]) if a != thick]
    axes = others[: dims - 1]
    axes.insert(k, thick)
    return tuple(axes)


def to_batch(block: np.ndarray, layout: Layout) -> np.ndarray:
    """``(C, X, Y, Z)`` block → network input ``(N, C, *arch axes)`` (contiguous float32)."""
    arr = np.transpose(block, layout.perm)
    if layout.batch_axis is None:
        arr = arr[None]
    return np.ascontiguousarray(arr, dtype=np.float32)


def from_batch(y: np.ndarray, layout: Layout) -> np.ndarray:
    """Network output ``(N, C, *arch axes × f)`` → ``(C, X', Y', Z')`` block."""
    arr = y[0] if layout.batch_axis is None else y
    return np.transpose(arr, np.argsort(layout.perm))
