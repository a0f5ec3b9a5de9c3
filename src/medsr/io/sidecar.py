"""The JSON sidecar written next to an output: what was written, how, and by which software.

``out.nii.gz`` gets ``out.json``; a DICOM series folder ``out/`` gets ``out.json`` beside
it. The caller's dict (method, model, factors …) is kept and these keys are added (they
win over the caller's keys of the same name): ``output``, ``format``, ``dtype``, ``shape``
(X, Y, Z), ``channels``, ``spacing_mm``, ``origin_mm``, ``direction`` (3×3, columns = array
axes, LPS), ``orientation``, ``slice_thickness_mm``, ``modality``, ``units``, ``source``,
``software`` (:func:`software_versions`), ``created_utc`` (ISO 8601) and ``history``
(``meta.history``).

Example:
    >>> from pathlib import Path
    >>> sidecar_path(Path("out/enhanced.nii.gz")).as_posix(), sidecar_path(Path("series_sr")).as_posix()
    ('out/enhanced.json', 'series_sr.json')
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

from medsr.image import Image
from medsr.io.formats import READ_SUFFIXES, WRITE_SUFFIXES, suffix_of


def sidecar_path(path: str | Path) -> Path:
    """Where the sidecar JSON of output ``path`` goes: the name without image suffix + ``.json``."""
    p = Path(path)
    suffix = suffix_of(p, {**READ_SUFFIXES, **WRITE_SUFFIXES})
    stem = p.name[: len(p.name) - len(suffix)] if suffix else p.name
    return p.with_name(f"{stem}.json")


def software_versions() -> dict[str, str]:
    """Versions of medsr, Python, numpy, scipy, SimpleITK, pydicom (and torch when already
    imported): the one versions helper of every sidecar and bundle."""
    from importlib.metadata import PackageNotFoundError, version

    import medsr

    out = {"medsr": medsr.__version__, "python": platform.python_version(), "numpy": np.__version__}
    for dist in ("scipy", "SimpleITK", "pydicom"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch"] = str(getattr(torch, "__version__", "unknown"))
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (Path, set, tuple)):
        return str(value) if isinstance(value, Path) else list(value)
    return str(value)


def build_sidecar(
    image: Image, out: Path, fmt: str, dtype: str, user: dict[str, Any] | None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The sidecar dict for ``image`` written to ``out`` (see the module docstring)."""
    meta = image.meta
    facts = {
        "output": str(Path(out).absolute()),
        "format": fmt,
        "dtype": dtype,
        "shape": list(image.shape),
        "channels": image.channels,
        "spacing_mm": [float(s) for s in image.spacing],
        "origin_mm": [float(o) for o in image.origin],
        "direction": image.direction.tolist(),
        "orientation": image.orientation,
        "slice_thickness_mm": meta.slice_thickness,
        "modality": meta.modality,
        "units": meta.units,
        "source": meta.source_path,
        "software": software_versions(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "history": list(meta.history),
    }
    return {**(user or {}), **(extra or {}), **facts}


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented UTF-8 JSON (numpy values converted)."""
    text = json.dumps(data, indent=2, default=_jsonable, allow_nan=True)
    path.write_text(text + "\n", encoding="utf-8")
