"""TorchIO images and subjects: ``(C, W, H, D)`` tensors with a RAS affine, like medsr's layout.

A ``ScalarImage`` (or ``LabelMap``) comes back as the same class on the output grid. For a
``Subject``, every ``ScalarImage`` goes through the verb; label maps are carried onto the
grid of the first result by nearest-neighbour resampling (labels never mix) and other entries
are kept. An ``enhance`` result adds ``<name>_uncertainty`` beside each image.

Example:
    >>> import torch, torchio as tio  # doctest: +SKIP
    >>> img, back = adapt_torchio(tio.ScalarImage(tensor=torch.zeros(1, 4, 4, 2)))  # doctest: +SKIP
    >>> type(back(img)).__name__  # doctest: +SKIP
    'ScalarImage'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from medsr.image import Image, ImageMeta


def adapt_torchio(tio_image: Any) -> tuple[Image, Any]:
    """``(image, back)`` for a TorchIO ``ScalarImage`` or ``LabelMap``."""
    data = tio_image.data.detach().cpu().numpy()
    path = tio_image.path
    meta = ImageMeta(
        source_format="torchio", source_path=None if path is None else str(path), source_dtype=str(data.dtype)
    )
    image = Image.from_ras_affine(np.asarray(data, dtype=np.float32), tio_image.affine, meta)
    cls, dtype = type(tio_image), tio_image.data.dtype
    labels = not dtype.is_floating_point  # a LabelMap keeps its integer type

    def back(out: Image) -> Any:
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(np.rint(out.data) if labels else out.data))
        return cls(tensor=tensor.to(dtype) if labels else tensor, affine=out.to_ras_affine())

    return image, back


def map_subject(verb: Callable[[Image], Any], subject: Any) -> Any:
    """A new Subject with ``verb`` applied to each ScalarImage and label maps carried along."""
    import torchio as tio

    from medsr.interop import restore

    entries: dict[str, Any] = {}
    grid = None
    for name, value in subject.items():
        if isinstance(value, tio.ScalarImage):
            image, back = adapt_torchio(value)
            result = verb(image)
            entries[name] = restore(result, back)
            out = result if isinstance(result, Image) else result.image
            grid = grid or out.grid
            if not isinstance(result, Image) and getattr(result, "uncertainty", None) is not None:
                entries[f"{name}_uncertainty"] = back(result.uncertainty)
    for name, value in subject.items():
        if name in entries:
            continue
        if isinstance(value, tio.LabelMap) and grid is not None:
            entries[name] = _nearest(value, grid)
        elif not isinstance(value, tio.ScalarImage):
            entries[name] = value
    return tio.Subject(entries)


def _nearest(label_map: Any, grid: Any) -> Any:
    from medsr.baselines import resample_to_grid

    image, back = adapt_torchio(label_map)
    return back(resample_to_grid(image, grid, "nearest"))
