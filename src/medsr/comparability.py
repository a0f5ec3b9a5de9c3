"""Whether a prediction can be scored against a reference at all: the same kind of image and
overlapping fields of view (two images metres apart, or 2D against 3D, are not a comparison).

Example:
    >>> import numpy as np
    >>> from medsr.image import Image
    >>> a = Image(np.zeros((1, 4, 4, 4), np.float32))
    >>> check_comparable(a, a)
    >>> try:
    ...     check_comparable(a, Image(np.zeros((1, 4, 4, 4), np.float32), origin=(1e4, 0, 0)))
    ... except Exception as err:
    ...     print(type(err).__name__)
    InvalidImageError
"""

from __future__ import annotations

import numpy as np

from medsr.errors import InvalidImageError
from medsr.image import Image


def _world_box(image: Image) -> tuple[np.ndarray, np.ndarray]:
    """The world-space bounding box (mm) of the image's voxel extent."""
    n = np.asarray(image.shape, dtype=np.float64)
    corners = np.array([[i, j, k] for i in (-0.5, n[0] - 0.5) for j in (-0.5, n[1] - 0.5) for k in (-0.5, n[2] - 0.5)])
    world = image.grid.index_to_world(corners)
    return world.min(0), world.max(0)


def check_comparable(reference: Image, prediction: Image, name: str = "prediction") -> None:
    """Refuse a prediction of another dimensionality or channel count, or one whose field of view
    does not overlap the reference's (two images metres apart are not a comparison).

    Raises:
        InvalidImageError: 2D against 3D, other channels, or disjoint fields of view.
    """
    where = prediction.meta.source_path or name
    if reference.is_2d != prediction.is_2d or reference.channels != prediction.channels:
        raise InvalidImageError(
            where,
            f"{name} is {'2D' if prediction.is_2d else '3D'} with {prediction.channels} channel(s), the reference "
            f"{'2D' if reference.is_2d else '3D'} with {reference.channels}",
            "compare images of the same kind (a 2D prediction with a 2D reference)",
        )
    lo_r, hi_r = _world_box(reference)
    lo_p, hi_p = _world_box(prediction)
    overlap = np.minimum(hi_r, hi_p) - np.maximum(lo_r, lo_p)
    if np.any(overlap <= 0):
        raise InvalidImageError(
            where,
            f"{name} covers {np.round(lo_p, 1).tolist()}..{np.round(hi_p, 1).tolist()} mm, which does not overlap the "
            f"reference's {np.round(lo_r, 1).tolist()}..{np.round(hi_r, 1).tolist()} mm",
            "score a prediction made from this reference (same origin and direction)",
        )
