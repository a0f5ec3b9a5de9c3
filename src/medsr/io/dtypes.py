"""Output pixel types: what ``dtype=`` means and how float values are stored as integers.

``dtype="float32"`` (the default) stores the values as they are. ``dtype="input"`` stores
them in the type they were read from (``meta.source_dtype``). Integer types round to the
nearest integer and clip to the type's range (a warning says how many values were clipped);
values are never rescaled. NaN becomes 0 in integer types.

Example:
    >>> import numpy as np
    >>> cast_values(np.array([-3.4, 0.6, 300.0], np.float32), np.dtype("uint8")).tolist()
    [0, 1, 255]
"""

from __future__ import annotations

import logging

import numpy as np

from medsr.errors import ConfigError

logger = logging.getLogger(__name__)

#: numpy type names accepted as ``dtype=``
NAMED = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64")


def resolve_dtype(dtype: str, source_dtype: str) -> np.dtype:
    """The numpy dtype for ``dtype`` (``"float32"``, ``"input"`` or a name in :data:`NAMED`).

    Raises:
        ConfigError: an unknown name.
    """
    name = str(dtype).lower()
    if name == "input":
        name = source_dtype if source_dtype in NAMED else ("uint8" if source_dtype == "bool" else "float32")
    if name not in NAMED:
        raise ConfigError(None, f"unknown output dtype {dtype!r}", f"use float32, input or one of {', '.join(NAMED)}")
    return np.dtype(name)


def cast_values(data: np.ndarray, dtype: np.dtype, label: str = "") -> np.ndarray:
    """``data`` as ``dtype``: floats unchanged, integers rounded and clipped to the type range."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.floating):
        return np.asarray(data, dtype=dtype)
    info = np.iinfo(dtype)
    arr = np.rint(np.asarray(data, dtype=np.float64 if info.bits > 16 else np.float32))
    outside = int(np.count_nonzero((arr < info.min) | (arr > info.max)))
    if outside:
        logger.warning(
            "%s%d values outside the %s range [%d, %d] were clipped",
            f"{label}: " if label else "",
            outside,
            dtype.name,
            info.min,
            info.max,
        )
    arr = np.nan_to_num(arr, nan=0.0, posinf=info.max, neginf=info.min)
    return np.clip(arr, info.min, info.max).astype(dtype)
