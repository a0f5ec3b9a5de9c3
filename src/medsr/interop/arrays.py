"""numpy arrays and torch tensors as images: the layout is told by the number of axes.

``(X, Y)`` is a 2D grey image, ``(X, Y, Z)`` a volume, ``(C, X, Y, Z)`` channels first (a 2D
RGB image is ``(3, X, Y, 1)``). Geometry comes from ``spacing`` (mm per axis, default 1) and/or a
4×4 LPS ``affine`` (spacing, direction and origin; when both are given they must agree). The
result goes back with the same number of axes, as float32, a tensor on the input's device.

Example:
    >>> import numpy as np
    >>> img, back = adapt_array(np.ones((3, 4), np.uint8), (0.5, 0.5), None)
    >>> img.data.shape, img.is_2d, img.spacing.tolist(), back(img).dtype
    ((1, 3, 4, 1), True, [0.5, 0.5, 1.0], dtype('float32'))
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from medsr.errors import GeometryError, InvalidImageError
from medsr.geometry import Grid, affine_4x4, grid_from_affine
from medsr.image import Image, ImageMeta


def adapt_array(data: Any, spacing: ArrayLike | None, affine: ArrayLike | None) -> tuple[Image, Any]:
    """``(image, back)`` for a numpy array or torch tensor (see the module docstring)."""
    tensor = not isinstance(data, np.ndarray)
    arr = data.detach().cpu().numpy() if tensor else data
    ndim = arr.ndim
    if ndim not in (2, 3, 4):
        raise InvalidImageError(None, f"an array image needs 2, 3 or 4 axes, got shape {arr.shape}", _LAYOUT)
    vox = arr[None, :, :, None] if ndim == 2 else arr[None] if ndim == 3 else arr
    if not (np.issubdtype(vox.dtype, np.number) or vox.dtype == np.bool_) or np.iscomplexobj(vox):
        raise InvalidImageError(None, f"array dtype {vox.dtype} is not real numbers", "give integer or float voxels")
    meta = ImageMeta(spatial_dims=2 if ndim == 2 else 3, source_dtype=str(vox.dtype))
    image = Image.from_grid(np.asarray(vox, dtype=np.float32), _grid(vox.shape[1:], spacing, affine), meta)
    device = data.device if tensor else None

    def back(out: Image) -> Any:
        res = out.data[0, :, :, 0] if ndim == 2 else out.data[0] if ndim == 3 else out.data
        res = np.ascontiguousarray(res, dtype=np.float32)
        if device is None:
            return res
        import torch

        return torch.from_numpy(res).to(device)

    return image, back


_LAYOUT = "give (X, Y), (X, Y, Z) or (C, X, Y, Z)"


def _grid(shape: tuple[int, ...], spacing: ArrayLike | None, affine: ArrayLike | None) -> Grid:
    sp = None if spacing is None else np.asarray(spacing, dtype=np.float64).reshape(-1)
    if sp is not None and sp.size == 2:
        sp = np.append(sp, 1.0)
    if affine is None:
        return Grid(shape, sp if sp is not None else np.ones(3), np.zeros(3), np.eye(3))  # type: ignore[arg-type]
    a = affine_4x4(affine)
    grid = grid_from_affine(shape, a)
    if sp is not None and not np.allclose(sp, grid.spacing, rtol=1e-6):
        raise GeometryError(
            None,
            f"input_spacing {sp.tolist()} disagrees with the affine's {grid.spacing.tolist()}",
            "give one of them, or make them agree",
        )
    return grid
