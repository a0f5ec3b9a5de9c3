"""The one tiled inference loop of medsr, shared by ``predict`` and ``enhance``.

:func:`run_tiled` pads the LR array by reflection (the halo, so border outputs see real-looking
context), cuts it into blocks (:mod:`medsr.engine.tiling`), calls ``fn`` on each haloed block,
crops the halo from the output, and blends the cores at HR size
(:mod:`medsr.engine.blending`, :mod:`medsr.engine.stitch`). When the halo is at least the
network's receptive-field radius, the result does not depend on the tiling at all.

Example:
    >>> import numpy as np
    >>> x = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    >>> up = run_tiled(lambda b: nearest_upsample(b, (2, 1)), x, (2, 1), tile=2, overlap=1)
    >>> up.shape, bool(np.allclose(up, nearest_upsample(x, (2, 1))))
    ((1, 6, 4), True)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from medsr.engine.blending import KINDS, block_weight
from medsr.engine.stitch import Stitcher
from medsr.engine.tiling import Block, TilePlan, plan_tiles
from medsr.errors import InvalidImageError

BlockFn = Callable[[np.ndarray], np.ndarray]
Progress = Callable[[int, int], None]


def nearest_upsample(block: np.ndarray, scale: Sequence[int]) -> np.ndarray:
    """Repeat each voxel of ``(C, *S)`` by ``scale`` along each spatial axis."""
    out = block
    for a, f in enumerate(scale):
        if int(f) > 1:
            out = np.repeat(out, int(f), axis=1 + a)
    return out


def _check_output(y: np.ndarray, expected: tuple[int, ...], index: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != len(expected) + 1 or tuple(y.shape[1:]) != expected:
        raise ValueError(
            f"block function returned shape {tuple(y.shape)} for block {index}; "
            f"expected (C, *{expected}) = input size times scale"
        )
    return y


def run_tiled(
    fn: BlockFn,
    data: np.ndarray,
    scale: Sequence[int] | int,
    *,
    tile: int | None | Sequence[int | None] = None,
    overlap: int | None | Sequence[int | None] = 0,
    halo: int | None | Sequence[int | None] = 0,
    blend: str = "gaussian",
    mask: np.ndarray | None = None,
    fill: BlockFn | None = None,
    out: np.ndarray | str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    size_multiple: int = 1,
) -> np.ndarray:
    """Apply ``fn`` over tiles of ``data`` and return the stitched HR array.

    Args:
        fn: ``fn(block) -> output`` with ``block`` of shape ``(C, *haloed)`` (float32) and
            output ``(C', *(haloed × scale))``.
        data: LR array ``(C, X, Y)`` or ``(C, X, Y, Z)``.
        scale: integer factor per spatial axis (an int applies to all), ≥ 1.
        tile: LR core edge per axis (``None`` = whole axis); overlap: LR voxels shared by
            neighbouring cores; halo: LR context read on each side (≥ receptive-field radius
            for exact tiling).
        blend: ``"gaussian"``, ``"hann"`` or ``"none"`` (see :mod:`medsr.engine.blending`).
        mask: boolean LR array ``(X, Y[, Z])``; blocks whose core holds no True are not run
            but filled with ``fill(core_block)`` (default: nearest-neighbour upsampling).
        fill: ``fill((C, *core)) -> (C', *(core × scale))`` for skipped blocks.
        out: a preallocated ``(C', *HR)`` array, or a folder in which the output is created as
            an ``np.memmap`` (for outputs larger than RAM), or ``None`` for RAM.
        progress: called as ``progress(done, total)`` after each block.
        size_multiple: network inputs are padded (by reflection) to a multiple of this.

    Returns:
        ``(C', *(spatial × scale))`` float32 (an ``np.memmap`` when ``out`` is a folder).
    """
    arr = np.asarray(data)
    if arr.ndim not in (3, 4):
        raise InvalidImageError(
            None,
            f"tiled input must be (C, X, Y[, Z]), got shape {arr.shape}",
            "give channels first with 2 or 3 spatial axes",
        )
    if blend not in KINDS:
        from medsr.errors import ConfigError

        raise ConfigError(None, f"unknown blending {blend!r}", f"use one of {', '.join(KINDS)}")
    spatial = arr.shape[1:]
    plan = plan_tiles(spatial, scale, tile=tile, overlap=overlap, halo=halo, size_multiple=size_multiple)
    if mask is not None and tuple(np.shape(mask)) != tuple(spatial):
        raise InvalidImageError(
            None,
            f"mask shape {np.shape(mask)} differs from the image {tuple(spatial)}",
            "give a mask on the input grid",
        )
    padded = (
        np.pad(arr.astype(np.float32, copy=False), [(0, 0)] + plan.pad_width, mode="reflect")
        if any(sum(p) for p in plan.pad_width)
        else arr.astype(np.float32, copy=False)
    )
    fill_fn = fill or (lambda b: nearest_upsample(b, plan.scale))
    weighted = not plan.disjoint
    weights: dict[tuple, np.ndarray] = {}
    stitcher: Stitcher | None = None
    total = len(plan.blocks)
    for done, block in enumerate(plan.blocks, start=1):
        if mask is not None and not np.any(mask[block.core]):
            core_out = tuple((s.stop - s.start) * f for s, f in zip(block.core, plan.scale, strict=False))
            y = _check_output(
                fill_fn(arr[(slice(None),) + block.core].astype(np.float32, copy=False)), core_out, block.index
            )
        else:
            x = np.ascontiguousarray(padded[(slice(None),) + block.src])
            expected = tuple(n * f for n, f in zip(block.src_shape, plan.scale, strict=False))
            y = _check_output(fn(x), expected, block.index)[(slice(None),) + block.crop]
        if stitcher is None:
            stitcher = _make_stitcher(y.shape[0], plan.out_shape, out, weighted)
        stitcher.add(y, block.out, _weight(plan, block, blend, weights) if weighted else None)
        if progress is not None:
            progress(done, total)
    assert stitcher is not None  # a plan always has at least one block
    return stitcher.finalize()


def _weight(plan: TilePlan, block: Block, blend: str, cache: dict[tuple, np.ndarray]) -> np.ndarray:
    """Blocks of the same size and border contact share one window."""
    key = (block.core_shape, block.at_lo, block.at_hi)
    if key not in cache:
        cache[key] = block_weight(plan, block, blend)
    return cache[key]


def _make_stitcher(
    channels: int, shape: tuple[int, ...], out: np.ndarray | str | os.PathLike[str] | None, weighted: bool
) -> Stitcher:
    if out is None:
        return Stitcher(channels, shape, weighted=weighted)
    if isinstance(out, np.ndarray):
        return Stitcher(channels, shape, out=out, weighted=weighted)
    return Stitcher(channels, shape, folder=out, weighted=weighted)
