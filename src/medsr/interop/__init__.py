"""Images from the libraries medsr's users work in, and back to the same kind.

Every public verb (:func:`medsr.upsample`, :func:`medsr.degrade`, :func:`medsr.enhance`,
:func:`medsr.predict`) accepts any of these and returns the kind it was given:

=======================  ==================================  ===========================
input                    voxels                              geometry
=======================  ==================================  ===========================
:class:`medsr.Image`     ``(C, X, Y, Z)``                    LPS (ITK, DICOM)
``numpy.ndarray``        ``(X, Y)``, ``(X, Y, Z)`` or         ``input_spacing=`` (mm) and/or
                         ``(C, X, Y, Z)``                    ``input_affine=`` (4×4, LPS)
``torch.Tensor``         as numpy; returned on its device    as numpy
``SimpleITK.Image``      2D or 3D, vector pixels = channels  its own (LPS)
nibabel image            ``(X, Y, Z[, C])``                  ``img.affine`` (RAS)
TorchIO ``ScalarImage``  ``(C, W, H, D)``                    ``img.affine`` (RAS)
TorchIO ``Subject``      each ``ScalarImage`` goes through   label maps follow (nearest)
MONAI ``MetaTensor``     ``(C, H, W, D)`` (or no channel)    ``.affine`` in ``meta["space"]``
=======================  ==================================  ===========================

Each library is imported only when an object of it arrives. A 3D numpy array is a volume
``(X, Y, Z)``; give a 2D RGB image as ``(3, X, Y, 1)``.

Example:
    >>> import numpy as np
    >>> img, back = adapt(np.zeros((4, 5, 6), np.float32), spacing=(1, 1, 3))
    >>> img.shape, img.spacing.tolist(), back(img).shape
    ((4, 5, 6), [1.0, 1.0, 3.0], (4, 5, 6))
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from medsr.errors import InvalidImageError
from medsr.image import Image

Restore = Callable[[Image], Any]


def kind(data: Any) -> str:
    """``image``, ``numpy``, ``torch``, ``sitk``, ``nibabel``, ``torchio``, ``torchio-subject``,
    ``monai`` or ``unknown`` (no library is imported to tell)."""
    if isinstance(data, Image):
        return "image"
    if isinstance(data, np.ndarray):
        return "numpy"
    module = type(data).__module__ or ""
    if module.startswith("monai"):
        return "monai"
    if module.startswith("torchio"):
        return "torchio-subject" if hasattr(data, "get_images") else "torchio"
    if module.startswith("SimpleITK"):
        return "sitk"
    if module.startswith("nibabel") and hasattr(data, "dataobj"):
        return "nibabel"
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(data, torch.Tensor):
        return "torch"
    return "unknown"


def adapt(data: Any, *, spacing: ArrayLike | None = None, affine: ArrayLike | None = None) -> tuple[Image, Restore]:
    """``(image, back)``: ``data`` as a :class:`~medsr.image.Image`, and the function that turns
    a result Image back into ``data``'s kind (with that library's affine convention).

    ``spacing`` (mm) and ``affine`` (4×4 LPS) apply to numpy arrays and torch tensors only.
    """
    k = kind(data)
    if k != "numpy" and k != "torch" and (spacing is not None or affine is not None):
        raise InvalidImageError(None, f"input_spacing/input_affine given for a {k} input", "they are for arrays only")
    if k == "image":
        return data, _identity
    if k in ("numpy", "torch"):
        from medsr.interop.arrays import adapt_array

        return adapt_array(data, spacing, affine)
    if k == "sitk":
        from medsr.sitk_bridge import from_sitk, to_sitk

        dims = int(data.GetDimension())
        return from_sitk(data), lambda out: to_sitk(out, dims=dims)
    if k == "nibabel":
        from medsr.interop.nifti_images import adapt_nibabel

        return adapt_nibabel(data)
    if k == "torchio":
        from medsr.interop.torchio_images import adapt_torchio

        return adapt_torchio(data)
    if k == "monai":
        from medsr.interop.monai_tensors import adapt_monai

        return adapt_monai(data)
    raise InvalidImageError(
        None,
        f"cannot use a {type(data).__module__}.{type(data).__name__} as an image",
        "give a medsr.Image, numpy array, torch tensor, SimpleITK, nibabel, TorchIO or MONAI image",
    )


def to_image(data: Any, *, spacing: ArrayLike | None = None, affine: ArrayLike | None = None) -> Image:
    """``data`` (any kind :func:`adapt` takes) as a :class:`~medsr.image.Image`."""
    return adapt(data, spacing=spacing, affine=affine)[0]


def apply(verb: Callable[[Image], Any], data: Any, *, spacing: Any = None, affine: Any = None) -> Any:
    """Run ``verb`` (Image → Image or result with ``image``/``uncertainty``) on ``data`` of any
    kind and return its output in ``data``'s kind. A TorchIO Subject maps over its images."""
    if kind(data) == "torchio-subject":
        from medsr.interop.torchio_images import map_subject

        return map_subject(lambda image: verb(image), data)
    image, back = adapt(data, spacing=spacing, affine=affine)
    return restore(verb(image), back)


def restore(result: Any, back: Restore) -> Any:
    """``back`` applied to an Image, or to the images of a result dataclass (``image``,
    ``uncertainty``); anything else is returned as it is."""
    if isinstance(result, Image):
        return back(result)
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        fields = ((f.name, getattr(result, f.name)) for f in dataclasses.fields(result))
        return dataclasses.replace(result, **{name: back(v) for name, v in fields if isinstance(v, Image)})
    return result


def _identity(image: Image) -> Image:
    return image
