"""``medsr info``: a quick, JSON-able description of an image file or DICOM folder.

Example:
    >>> info = describe("../shared/data/ct/lung1_image.nrrd")  # doctest: +SKIP
    >>> info["shape"], info["spacing_mm"], info["modality"], info["units"]  # doctest: +SKIP
    ([512, 512, 48], [0.5703125, 0.5703125, 5.0], 'CT', 'HU')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medsr.geometry import obliquity_deg
from medsr.image import Image

#: percentiles are taken on at most this many voxels (a regular subsample)
_SAMPLE = 2_000_000


def value_summary(data: np.ndarray) -> dict[str, Any]:
    """min, max (exact), p1, p99 (on a subsample) and the count of non-finite values."""
    flat = data.reshape(-1)
    finite = np.isfinite(flat)
    n_bad = int(flat.size - np.count_nonzero(finite))
    good = flat[finite] if n_bad else flat
    if good.size == 0:
        return {"min": None, "max": None, "p1": None, "p99": None, "nonfinite": n_bad}
    sample = good[:: max(1, good.size // _SAMPLE)]
    p1, p99 = np.percentile(sample, [1, 99])
    return {"min": float(good.min()), "max": float(good.max()), "p1": float(p1), "p99": float(p99), "nonfinite": n_bad}


def image_summary(image: Image) -> dict[str, Any]:
    """Geometry, meta and value range of ``image`` (the keys of :func:`describe`)."""
    meta = image.meta
    out: dict[str, Any] = {
        "format": meta.source_format,
        "shape": list(image.shape),
        "channels": image.channels,
        "spatial_dims": meta.spatial_dims,
        "rgb": meta.rgb,
        "spacing_mm": [float(s) for s in image.spacing],
        "slice_thickness_mm": meta.slice_thickness,
        "origin_mm": [float(o) for o in image.origin],
        "direction": image.direction.tolist(),
        "orientation": image.orientation,
        "obliquity_deg": round(obliquity_deg(image.direction), 3),
        "modality": meta.modality,
        "units": meta.units,
        "source_dtype": meta.source_dtype,
        "memory_mib": round(image.nbytes / 2**20, 2),
        "spacing_assumed": bool(meta.header.get("spacing_assumed", False)),
    }
    if "spacing_nonuniformity_mm" in meta.header:
        out["spacing_nonuniformity_mm"] = meta.header["spacing_nonuniformity_mm"]
    out.update(value_summary(image.data))
    return out


def describe(path: str | Path, series: str | int | None = None) -> dict[str, Any]:
    """Describe an image file or DICOM folder for ``medsr info``.

    Keys: ``path``, ``format``, ``shape`` [X, Y, Z], ``channels``, ``spatial_dims``, ``rgb``,
    ``spacing_mm``, ``slice_thickness_mm``, ``origin_mm``, ``direction``, ``orientation`` (e.g.
    ``LPS``), ``obliquity_deg``, ``modality``, ``units``, ``source_dtype``, ``memory_mib``,
    ``spacing_assumed``, ``min``, ``max``, ``p1``, ``p99``, ``nonfinite`` and, when known,
    ``spacing_nonuniformity_mm``. A DICOM folder adds ``series`` (one dict per series:
    ``index``, ``uid``, ``description``, ``modality``, ``n_files``, ``rows``, ``columns``,
    ``number``, ``n_frames``) and ``selected_series`` (the UID read). When the folder holds
    several series and ``series`` is None, only ``path``, ``format``, ``series``,
    ``selected_series`` (None) and ``note`` are given.

    Raises the same errors as :func:`medsr.io.read` (values are not checked for NaN).
    """
    from medsr.io import read
    from medsr.io.dicom_scan import list_series

    p = Path(path).expanduser()
    out: dict[str, Any] = {"path": str(p)}
    if p.is_dir():
        infos = list_series(p)
        out["format"] = "dicom-series"
        out["series"] = [{"index": i, **s.as_dict()} for i, s in enumerate(infos)]
        if len(infos) > 1 and series is None:
            out["selected_series"] = None
            out["note"] = f"{len(infos)} series; pass --series INDEX or UID to describe one"
            return out
    image = read(p, series, check=False)
    out.update(image_summary(image))
    if p.is_dir():
        out["selected_series"] = image.meta.header.get("series_instance_uid")
    return out
