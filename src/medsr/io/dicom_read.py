"""Reading DICOM: a folder (one or several series) or a single file (2D, multi-frame, colour).

The result is an :class:`~medsr.image.Image` in physical values (CT in HU), with the geometry
of :mod:`medsr.io.dicom_geometry`, ``meta.slice_thickness`` from SliceThickness (kept apart
from the Z spacing) and the modality from the Modality tag. ``meta.source_dtype`` is the
smallest integer type that holds the values after the modality transform (the stored type
when it does), or ``float32`` when they are not integers; the raw stored type is in
``meta.header["stored_dtype"]``.

``meta.header`` (JSON-able) holds what the DICOM writer needs:

``format`` (``"dicom"``), ``files`` (absolute paths in slice order), ``source_folder``
(absolute, or None for a single file), ``study_instance_uid``, ``series_instance_uid``,
``frame_of_reference_uid``, ``sop_class_uid``, ``series_description``, ``series_number``,
``modality``, ``transfer_syntax``, ``photometric`` (as stored), ``inverted`` (MONOCHROME1
flipped), ``stored_dtype``, ``rescale_slope``, ``rescale_intercept``, ``number_of_frames``,
``pixel_spacing_from`` (``PixelSpacing``, ``ImagerPixelSpacing`` or ``assumed``),
``spacing_assumed`` (bool), ``source_spacing`` ([x, y, z] mm) and geometry facts such as
``spacing_nonuniformity_mm``.

Example:
    >>> img = read_dicom(Path("../shared/data/dicom/mr_brain_series"))  # doctest: +SKIP
    >>> img.shape, img.meta.slice_thickness  # doctest: +SKIP
    ((256, 256, 20), 5.0)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from medsr.errors import GeometryError, ReadError, SeriesSelectionError
from medsr.image import Image, ImageMeta
from medsr.io.dicom_geometry import in_plane_spacing, stack_geometry
from medsr.io.dicom_pixels import Plane, decode_planes
from medsr.io.dicom_scan import dicom_kind, scan_folder, select_series

logger = logging.getLogger(__name__)

_INT_TYPES = ("uint8", "uint16", "int16", "int32")


def _stop_after_pixels() -> Callable[[Any, Any, int], bool]:
    """A pydicom ``stop_when`` that ends parsing after Pixel Data (skips trailing padding)."""
    seen = False

    def stop(tag: Any, vr: Any, length: int) -> bool:
        nonlocal seen
        if seen:
            return True
        seen = int(tag) in (0x7FE00010, 0x7FE00008, 0x7FE00009)
        return False

    return stop


def _dcmread(path: Path) -> Any:
    from pydicom.errors import InvalidDicomError
    from pydicom.filereader import read_partial

    kind = dicom_kind(path)
    try:
        with open(path, "rb") as fh:
            ds = read_partial(fh, stop_when=_stop_after_pixels(), force=kind != "dicom")
    except (
        InvalidDicomError,
        OSError,
        ValueError,
        KeyError,
        TypeError,
        EOFError,
        AttributeError,
        IndexError,
        OverflowError,
    ) as exc:
        raise ReadError(
            path,
            f"not a readable DICOM file ({type(exc).__name__})",
            "check that the file is complete and really DICOM",
        ) from None
    if "Rows" not in ds or "Columns" not in ds:
        raise ReadError(
            path,
            "not a DICOM image (no DICM marker or no Rows/Columns/pixel data)",
            "give a DICOM image file or a folder of them",
        )
    _ensure_transfer_syntax(ds)
    return ds


def _ensure_transfer_syntax(ds: Any) -> None:
    """Give a data set without file meta (raw, preamble-less) the syntax it was parsed with."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return
    implicit, little = getattr(ds, "original_encoding", (True, True))
    syntax = ImplicitVRLittleEndian if implicit else (ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
    if meta is None:
        ds.file_meta = meta = FileMetaDataset()
    meta.TransferSyntaxUID = syntax


def _value_dtype(data: np.ndarray, stored: str) -> str:
    """The type ``dtype='input'`` writes back: stored type if it holds the values, else the smallest."""
    if not np.all(np.isfinite(data)) or not np.array_equal(data, np.rint(data)):
        return "float32"
    lo, hi = float(data.min()), float(data.max())
    candidates = ((stored,) if stored in _INT_TYPES else ()) + _INT_TYPES
    for name in candidates:
        info = np.iinfo(name)
        if info.min <= lo and hi <= info.max:
            return name
    return "float32"


def _units(ds: Any) -> str:
    modality = str(ds.get("Modality", "") or "").upper()
    if modality == "CT":
        return "HU"
    if modality == "PT" and ds.get("Units"):
        return str(ds.Units)
    rescale_type = str(ds.get("RescaleType", "") or "").strip()
    if rescale_type and rescale_type.upper() != "US" and len(rescale_type) <= 8 and " " not in rescale_type:
        return rescale_type  # a coded unit such as OD or MGML, not free text
    return "a.u."


def _planes(paths: list[Path]) -> tuple[list[Plane], list[int], Any, dict[str, Any], list[list[str]]]:
    """All planes of all files, the file index of each, the first data set, pixel facts and
    each file's ``[SOPInstanceUID, SOPClassUID]``."""
    planes: list[Plane] = []
    owner: list[int] = []
    uids: list[list[str]] = []
    first = None
    facts: dict[str, Any] = {}
    for i, path in enumerate(paths):
        ds = _dcmread(path)
        got, got_facts = decode_planes(ds, path)
        if first is None:
            first, facts = ds, got_facts
        elif got[0].pixels.shape != planes[0].pixels.shape:
            raise ReadError(
                path,
                f"image size {got[0].pixels.shape[:2]} differs from {planes[0].pixels.shape[:2]} in the same series",
                "select files of one size (the series may mix localizers)",
            )
        planes.extend(got)
        owner.extend([i] * len(got))
        uids.append([_str(ds, "SOPInstanceUID"), _str(ds, "SOPClassUID")])
    return planes, owner, first, facts, uids


def _str(ds: Any, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value)


def _header(ds: Any, files: list[str], folder: Path | None, facts: dict[str, Any]) -> dict[str, Any]:
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    number = ds.get("SeriesNumber")
    return {
        "format": "dicom",
        "files": files,
        "source_folder": str(folder) if folder else None,
        "study_instance_uid": _str(ds, "StudyInstanceUID"),
        "series_instance_uid": _str(ds, "SeriesInstanceUID"),
        "frame_of_reference_uid": _str(ds, "FrameOfReferenceUID"),
        "sop_class_uid": _str(ds, "SOPClassUID"),
        "series_description": _str(ds, "SeriesDescription"),
        "series_number": int(number) if number not in (None, "") else None,
        "modality": _str(ds, "Modality"),
        "transfer_syntax": str(syntax) if syntax else "",
        **facts,
    }


def read_planes(paths: list[Path], where: Path, folder: Path | None) -> Image:
    """Stack the frames of ``paths`` (one series) into an Image; ``where`` names it in errors."""
    planes, owner, ds, facts, uids = _planes(paths)
    sx, sy, spacing_from = in_plane_spacing(planes[0].pixel_spacing, ds, where)
    geo = stack_geometry(
        [p.position for p in planes], [p.orientation for p in planes], (sx, sy), planes[0].thickness, ds, where
    )
    stack = np.stack([planes[i].pixels for i in geo.order])  # (Z, rows, columns, samples)
    data = np.ascontiguousarray(stack.transpose(3, 2, 1, 0), dtype=np.float32)  # (C, X, Y, Z)
    files: list[str] = []
    instances: list[list[Any]] = []  # [SOPInstanceUID, SOPClassUID, x, y, z] per file, for references
    for i in geo.order:
        name = str(paths[owner[i]].resolve())
        if name not in files:
            files.append(name)
            pos = planes[i].position
            instances.append([*uids[owner[i]], *([] if pos is None else [float(v) for v in pos])])
    facts.update(
        geo.facts,
        pixel_spacing_from=spacing_from,
        spacing_assumed=spacing_from == "assumed",
        source_spacing=[float(s) for s in geo.spacing],
        rescale_slope=planes[0].slope,
        rescale_intercept=planes[0].intercept,
        source_instances=instances,
    )
    thickness = planes[0].thickness
    meta = ImageMeta(
        modality=_str(ds, "Modality") or "OT",
        units=_units(ds) if data.shape[0] == 1 else "a.u.",
        slice_thickness=thickness if thickness and thickness > 0 else None,
        source_format="dicom-series" if folder else "dicom",
        source_path=str(folder or paths[0].resolve()),
        source_dtype=_value_dtype(data, facts["stored_dtype"]),
        spatial_dims=2 if len(planes) == 1 else 3,
        rgb=bool(facts.get("rgb")),
        header=_header(ds, files, folder, facts),
    )
    try:
        return Image(data, geo.spacing, geo.origin, geo.direction, meta)
    except GeometryError as exc:
        raise GeometryError(where, exc.reason, exc.remedy) from None


def _check_file_series(path: Path, series: str | int | None) -> None:
    if series is None or str(series).strip() == "0":
        return
    import pydicom

    uid = str(pydicom.dcmread(path, stop_before_pixels=True, force=True).get("SeriesInstanceUID", ""))
    if str(series).strip() != uid:
        raise SeriesSelectionError(
            path, f"a single file holds one series ([0] {uid}), not {series!r}", "omit --series or pass 0"
        )


def read_dicom(path: Path, series: str | int | None = None) -> Image:
    """Read a DICOM folder (choosing one series) or a single DICOM file.

    Raises:
        ReadError: no DICOM images, unreadable files, missing codecs.
        SeriesSelectionError: several series and no (or an unknown) ``series``.
        GeometryError: duplicated or grossly irregular slice positions, mixed orientations.
    """
    if path.is_dir():
        folder = path.resolve()
        info = select_series(scan_folder(folder), series, path)
        logger.info("%s: reading series %s (%d files)", path, info.uid, info.n_files)
        return read_planes([Path(f) for f in info.files], path, folder)
    _check_file_series(path, series)
    return read_planes([path], path, None)
