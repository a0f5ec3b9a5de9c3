"""2.5D bundles at inference: neighbouring slices in as channels, the centre slice out.

A bundle trained with ``patches.mode: 2.5d`` (see :mod:`medsr.train.patches`) takes a slab of
``2k+1`` planes stacked as channels (slice-major: the channels of slice ``-k`` first) and
returns the same slab at high resolution. :func:`predict_slab` builds that stack for every
slice of a volume (edge slices repeated), runs the engine on it and keeps the centre plane's
channels. :func:`medsr.engine.predict.predict` (``medsr.predict``) dispatches here for every
bundle whose ``meta.neighbours`` is above 0, so the CLI and Python take the same path.

Example:
    >>> import numpy as np
    >>> from medsr.image import Image
    >>> img = Image(np.arange(3, dtype=np.float32).reshape(1, 1, 1, 3))   # slices 0, 1, 2 along Z
    >>> stack_neighbours(img, 1, 2).data[:, 0, 0, :].tolist()
    [[0.0, 0.0, 1.0], [0.0, 1.0, 2.0], [1.0, 2.0, 2.0]]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from medsr.errors import BundleError
from medsr.image import Image


def stack_neighbours(image: Image, k: int, axis: int) -> Image:
    """``(C, X, Y, Z)`` → ``(C·(2k+1), X, Y, Z)``: channel block ``j`` holds the image shifted by
    ``j - k`` slices along ``axis`` (edges repeated)."""
    n = image.shape[axis]
    parts = []
    for off in range(-k, k + 1):
        idx = np.clip(np.arange(n) + off, 0, n - 1)
        parts.append(np.take(image.data, idx, axis=1 + axis))
    return image.with_data(np.concatenate(parts, axis=0), rgb=False)


def predict_slab(image: Image, bundle: Any, core: Callable[..., Image], **kwargs: Any) -> Image:
    """Run ``core`` (the engine's predictor) on the neighbour stack and keep the centre plane."""
    meta = bundle.meta
    k, axis, channels = meta.neighbours, meta.slice_axis, meta.image_channels
    if axis is None:
        raise BundleError(bundle.path, "a 2.5D bundle without slice_axis", "re-export the bundle with medsr train")
    if image.channels != channels:
        raise BundleError(
            bundle.path,
            f"2.5D bundle expects {channels}-channel images, the image has {image.channels}",
            "convert the image to grey or RGB as the bundle expects",
        )
    if image.is_2d and axis == 2:
        raise BundleError(
            bundle.path,
            "a 2.5D bundle needs a volume (neighbouring slices), the image is 2D",
            "use a 2D bundle for single images",
        )
    kwargs.setdefault("axes", tuple(a for a in range(3) if a != axis))  # planes as in training
    out = core(stack_neighbours(image, k, axis), bundle, **kwargs)
    centre = out.data[k * channels : (k + 1) * channels]
    return out.with_data(np.ascontiguousarray(centre), rgb=image.meta.rgb)
