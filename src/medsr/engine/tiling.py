"""Plan the blocks of a tiled super-resolution over a low-resolution array.

The LR array has spatial shape ``S`` (2 or 3 axes, channels excluded); the output is ``S·f``
with integer per-axis ``scale`` ``f ≥ 1``. Along each axis the image is cut into cores of
``tile`` voxels that overlap by ``overlap`` voxels (the last core is shifted back to end at the
border, so every core has the same length); ``tile=None`` takes the whole axis. Each block reads
its core plus ``halo`` voxels of context on both sides, from the image padded by reflection
(:attr:`TilePlan.pad_width`), plus ``extra`` voxels at the high end so the input length is a
multiple of ``size_multiple``. The network's output for a block is ``input length × f``; the
core's part of it (:attr:`Block.crop`) goes to :attr:`Block.out` in the HR array.

Example:
    >>> plan = plan_tiles((10, 7), (1, 4), tile=(4, None), overlap=(1, 0), halo=2)
    >>> [b.core for b in plan.blocks][:2]
    [(slice(0, 4, None), slice(0, 7, None)), (slice(3, 7, None), slice(0, 7, None))]
    >>> plan.blocks[0].src, plan.blocks[0].out, plan.out_shape
    ((slice(0, 8, None), slice(0, 11, None)), (slice(0, 4, None), slice(0, 28, None)), (10, 28))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

import numpy as np

from medsr.errors import ConfigError


def per_axis(value: int | None | Sequence[int | None], ndim: int, name: str) -> tuple[int | None, ...]:
    """Broadcast an int/None or a sequence to one value per axis."""
    if value is None or isinstance(value, (int, np.integer)):
        return (None if value is None else int(value),) * ndim
    vals = tuple(None if v is None else int(v) for v in value)
    if len(vals) != ndim:
        raise ConfigError(
            None,
            f"{name} {list(vals)} has {len(vals)} values for {ndim} axes",
            f"give one {name} per spatial axis, or a single value",
        )
    return vals


@dataclass(frozen=True)
class Block:
    """One tile. Slices are spatial only (prepend ``slice(None)`` for channels).

    Attributes:
        index: position in :attr:`TilePlan.blocks`.
        core: LR voxels this block is responsible for (image coordinates).
        src: the haloed input, in coordinates of the padded image.
        out: where the core's output goes in the HR array.
        crop: the core's part of the network output for ``src``.
        at_lo, at_hi: per axis, whether the core touches the low/high image border.
    """

    index: int
    core: tuple[slice, ...]
    src: tuple[slice, ...]
    out: tuple[slice, ...]
    crop: tuple[slice, ...]
    at_lo: tuple[bool, ...]
    at_hi: tuple[bool, ...]

    @property
    def core_shape(self) -> tuple[int, ...]:
        return tuple(s.stop - s.start for s in self.core)

    @property
    def src_shape(self) -> tuple[int, ...]:
        return tuple(s.stop - s.start for s in self.src)


@dataclass(frozen=True)
class TilePlan:
    """The blocks over an LR array and how to pad it (see the module docstring)."""

    shape: tuple[int, ...]
    scale: tuple[int, ...]
    tile: tuple[int, ...]
    overlap: tuple[int, ...]
    halo: tuple[int, ...]
    extra: tuple[int, ...]
    blocks: tuple[Block, ...]

    @property
    def out_shape(self) -> tuple[int, ...]:
        return tuple(n * f for n, f in zip(self.shape, self.scale, strict=False))

    @property
    def pad_width(self) -> list[tuple[int, int]]:
        """``np.pad`` widths for the spatial axes: halo before, halo + extra after."""
        return [(h, h + e) for h, e in zip(self.halo, self.extra, strict=False)]

    @property
    def disjoint(self) -> bool:
        """True when no two cores overlap (outputs can be written without blending)."""
        for a, _n in enumerate(self.shape):
            starts = sorted({b.core[a].start for b in self.blocks})
            if any(s1 - s0 < self.tile[a] for s0, s1 in zip(starts, starts[1:], strict=False)):
                return False
        return True


def _starts(n: int, t: int, o: int) -> list[int]:
    if t >= n:
        return [0]
    step = t - o
    starts = list(range(0, n - t, step))
    return starts + [n - t]


def plan_tiles(
    shape: Sequence[int],
    scale: Sequence[int] | int,
    *,
    tile: int | None | Sequence[int | None] = None,
    overlap: int | None | Sequence[int | None] = 0,
    halo: int | None | Sequence[int | None] = 0,
    size_multiple: int = 1,
) -> TilePlan:
    """Blocks covering an LR array of spatial ``shape`` exactly, for output ``shape × scale``.

    Args:
        shape: LR spatial shape (2 or 3 axes).
        scale: integer factor ≥ 1 per axis (an int applies to all).
        tile: core edge per axis in LR voxels; ``None`` = the whole axis.
        overlap: voxels shared by neighbouring cores (< tile).
        halo: context voxels read on each side (≥ the network's receptive-field radius for
            exact tiling).
        size_multiple: network input sizes are padded up to a multiple of this.
    """
    shp = tuple(int(n) for n in shape)
    nd = len(shp)
    if nd not in (2, 3) or min(shp) < 1:
        raise ConfigError(None, f"cannot tile spatial shape {shp}", "give 2 or 3 non-empty spatial axes")
    given = per_axis(scale, nd, "scale")
    if any(f is None or f < 1 for f in given):
        raise ConfigError(None, f"scale {list(given)} must be integers >= 1", "use factors such as 1 1 4")
    sc = tuple(int(f or 1) for f in given)
    tl: tuple[int, ...] = tuple(
        n if t is None else min(int(t), n) for t, n in zip(per_axis(tile, nd, "tile"), shp, strict=False)
    )
    ov = tuple(0 if o is None else int(o) for o in per_axis(overlap, nd, "overlap"))
    ha: tuple[int, ...] = tuple(0 if h is None else int(h) for h in per_axis(halo, nd, "halo"))
    if any(t < 1 for t in tl) or any(o < 0 for o in ov) or any(h < 0 for h in ha) or size_multiple < 1:
        raise ConfigError(
            None,
            f"tile {list(tl)}, overlap {list(ov)}, halo {list(ha)} and size multiple {size_multiple} must be positive",
            "use e.g. --tile 128 --overlap 16",
        )
    ov = tuple(min(o, t - 1) if t < n else 0 for o, t, n in zip(ov, tl, shp, strict=False))
    extra = tuple((-(t + 2 * h)) % size_multiple for t, h in zip(tl, ha, strict=False))
    axes = [_starts(n, t, o) for n, t, o in zip(shp, tl, ov, strict=False)]
    blocks = []
    for i, starts in enumerate(product(*axes)):
        core = tuple(slice(s, s + t) for s, t in zip(starts, tl, strict=False))
        src = tuple(slice(s, s + t + 2 * h + e) for s, t, h, e in zip(starts, tl, ha, extra, strict=False))
        out = tuple(slice(s * f, (s + t) * f) for s, t, f in zip(starts, tl, sc, strict=False))
        crop = tuple(slice(h * f, (h + t) * f) for t, h, f in zip(tl, ha, sc, strict=False))
        blocks.append(
            Block(
                i,
                core,
                src,
                out,
                crop,
                tuple(s == 0 for s in starts),
                tuple(s + t == n for s, t, n in zip(starts, tl, shp, strict=False)),
            )
        )
    return TilePlan(shp, tuple(int(f) for f in sc), tl, ov, ha, extra, tuple(blocks))
