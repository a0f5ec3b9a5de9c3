"""Conversion between :class:`medsr.image.Image` and ``SimpleITK.Image``.

SimpleITK's arrays are ``(Z, Y, X[, C])``; medsr's are ``(C, X, Y, Z)``. Both use LPS
millimetres and the same direction convention, so geometry copies over unchanged.
SimpleITK is imported lazily.

Example:
    >>> import numpy as np
    >>> from medsr.image import Image
    >>> img = Image(np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4), spacing=(1, 2, 3))
    >>> back = from_sitk(to_sitk(img))
    >>> bool(np.array_equal(back.data, img.data)), back.spacing.tolist()
    (True, [1.0, 2.0, 3.0])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medsr.image import Image, ImageMeta


def to_sitk(image: Image, dtype: Any = np.float32, dims: int = 3) -> Any:
    """A ``SimpleITK.Image`` (vector-valued when C > 1) with the image's geometry: 3D, or 2D
    with ``dims=2`` for an image with Z = 1 (the Z axis is dropped)."""
    import SimpleITK as sitk

    arr = np.asarray(image.data, dtype=dtype)
    if dims == 2 and image.shape[2] == 1:
        return _to_sitk_2d(image, arr)
    if image.channels == 1:
        out = sitk.GetImageFromArray(np.ascontiguousarray(arr[0].transpose(2, 1, 0)))
    else:
        out = sitk.GetImageFromArray(np.ascontiguousarray(arr.transpose(3, 2, 1, 0)), isVector=True)
    out.SetSpacing(tuple(float(s) for s in image.spacing))
    out.SetOrigin(tuple(float(o) for o in image.origin))
    out.SetDirection(tuple(float(d) for d in image.direction.reshape(-1)))
    return out


def _to_sitk_2d(image: Image, arr: np.ndarray) -> Any:
    import SimpleITK as sitk

    planes = arr[:, :, :, 0].transpose(0, 2, 1)  # (C, Y, X)
    if image.channels == 1:
        out = sitk.GetImageFromArray(np.ascontiguousarray(planes[0]))
    else:
        out = sitk.GetImageFromArray(np.ascontiguousarray(np.moveaxis(planes, 0, -1)), isVector=True)
    out.SetSpacing(tuple(float(s) for s in image.spacing[:2]))
    out.SetOrigin(tuple(float(o) for o in image.origin[:2]))
    out.SetDirection(tuple(float(d) for d in image.direction[:2, :2].reshape(-1)))
    return out


def from_sitk(sitk_image: Any, meta: ImageMeta | None = None) -> Image:
    """An :class:`Image` from a 2D or 3D ``SimpleITK.Image``; 2D gets Z = 1 and identity Z axis."""
    import SimpleITK as sitk

    arr = sitk.GetArrayViewFromImage(sitk_image)
    dim = sitk_image.GetDimension()
    ncomp = sitk_image.GetNumberOfComponentsPerPixel()
    if ncomp == 1:
        arr = arr[None]  # (1, [Z,] Y, X)
    else:
        arr = np.moveaxis(arr, -1, 0)  # (C, [Z,] Y, X)
    if dim == 2:
        arr = arr[:, None]
    data = np.ascontiguousarray(np.asarray(arr, dtype=np.float32).transpose(0, 3, 2, 1))
    spacing = list(sitk_image.GetSpacing())
    origin = list(sitk_image.GetOrigin())
    direction = np.asarray(sitk_image.GetDirection(), dtype=np.float64).reshape(dim, dim)
    if dim == 2:
        spacing.append(1.0)
        origin.append(0.0)
        d3 = np.eye(3)
        d3[:2, :2] = direction
        direction = d3
    meta = meta or ImageMeta(spatial_dims=dim)
    return Image(data, spacing, origin, direction, meta)
