"""The classical super-resolution families that learned methods are compared against.

One module each, with its paper:

* :mod:`~medsr.classical.shape` — grey-level shape-based interpolation (Grevera and Udupa 1996);
* :mod:`~medsr.classical.registration` — slice interpolation along a deformable registration
  (Penney et al. 2004; Leng et al. 2013), with scikit-image's optical flow;
* :mod:`~medsr.classical.nlm` — non-local upsampling with the re-degradation constraint
  (Manjón et al. 2010);
* :mod:`~medsr.classical.labels` — label maps by per-label shape-based interpolation.

:func:`upsample` puts an image on a finer grid that shares its direction (as
:func:`medsr.geometry.upsample_grid` makes). ``shape`` and ``registration`` interpolate between
slices along the most refined axis (other refined axes get cubic B-spline first); ``nlm`` refines
every axis at once. ``medsr upsample --method NAME`` calls it.

Example:
    >>> import numpy as np
    >>> from medsr.image import Image
    >>> lr = Image(np.random.default_rng(0).random((1, 16, 16, 4)).astype(np.float32), spacing=(1, 1, 4))
    >>> upsample(lr, factors=(1, 1, 4), method="shape").shape
    (16, 16, 16)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from medsr.errors import ConfigError, InvalidImageError
from medsr.geometry import Grid, same_grid, upsample_grid
from medsr.image import Image

METHODS = ("shape", "registration", "nlm")


def upsample(
    image: Image,
    *,
    factors: ArrayLike | None = None,
    spacing: ArrayLike | None = None,
    grid: Grid | None = None,
    method: str = "nlm",
    progress: Callable[[int, int], None] | None = None,
    **options: Any,
) -> Image:
    """``image`` (C, X, Y, Z) on the FOV-keeping grid of ``factors`` or ``spacing`` (mm), or on
    ``grid``, by a classical method; float32 in the input's units.

    ``options`` go to the method: ``levels``/``grey_step`` (shape), ``flow``/``radius``
    (registration), the fields of :class:`~medsr.classical.nlm.NLMConfig` (nlm).
    """
    if method not in METHODS:
        raise ConfigError(image.meta.source_path, f"unknown classical method {method!r}", f"use {', '.join(METHODS)}")
    if grid is None:
        grid = upsample_grid(image.grid, factors=factors, spacing=spacing)
    _check_memory(image, grid, method)
    if method == "nlm":
        from medsr.classical.nlm import NLMConfig, nlm_upsample

        return nlm_upsample(image, grid, NLMConfig(**options), progress)
    return _between_slices(image, grid, method, progress, **options)


#: Working bytes per output voxel and channel: nlm keeps float64 estimates, its filter's padded
#: copy and weights; the slice methods a float32 output and a few slices.
BYTES_PER_VOXEL = {"nlm": 72, "shape": 12, "registration": 12}


def _check_memory(image: Image, grid: Grid, method: str) -> None:
    from medsr.budget import check_fits

    n_out = int(np.prod(grid.shape)) * image.channels
    check_fits(
        BYTES_PER_VOXEL[method] * n_out + 8 * int(np.prod(image.shape)) * image.channels,
        f"{method} upsampling onto the {'×'.join(map(str, grid.shape))} grid",
        image.meta.source_path,
        "choose smaller factors or crop the input",
    )


def _between_slices(
    image: Image, grid: Grid, method: str, progress: Callable[[int, int], None] | None, **options: Any
) -> Image:
    from medsr.baselines import resample_to_grid
    from medsr.classical.slices import inplane_grid, interpolate_slices, slice_positions

    if image.is_2d:
        raise InvalidImageError(
            image.meta.source_path,
            f"{method} interpolation works between the slices of a volume; this image is 2D",
            "use --method nlm, bspline or lanczos for 2D images",
        )
    ratio = np.asarray(image.spacing) / np.asarray(grid.spacing)
    axis = int(np.argmax(ratio))
    inter = inplane_grid(image.grid, grid, axis)
    base = image if same_grid(inter, image.grid) else resample_to_grid(image, inter, "bspline")
    pair = _pair(method, base, **options)
    pos = slice_positions(base.grid, grid, axis)
    data = np.stack([interpolate_slices(base.data[c], axis, pos, pair, progress) for c in range(image.channels)])
    out = image.with_data(data, grid=grid)
    out.meta.history.append({"op": method, "axis": axis, **options})
    return out


def _pair(method: str, image: Image, **options: Any) -> Any:
    if method == "shape":
        from medsr.classical.shape import ShapeInterpolator

        lo, hi = np.percentile(image.data, [0.1, 99.9])
        return ShapeInterpolator(lo=float(lo), hi=float(hi), **options)
    from medsr.classical.registration import FlowInterpolator

    return FlowInterpolator(**options)
