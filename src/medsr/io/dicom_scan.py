"""Finding DICOM images in a folder, grouping them into series and choosing one.

Files are recognised by content, not by name: the ``DICM`` marker at byte 128, or (for
files written without the 128-byte preamble) a first tag in group 0x0002/0x0008 followed
by a successful pydicom read. Other files, hidden files (``.name``) and DICOM objects
without pixels (DICOMDIR, structured reports, RT structures) are ignored. Only headers are
read here (``stop_before_pixels``), so listing a large folder is quick.

Example:
    >>> from medsr.io.dicom_scan import list_series  # doctest: +SKIP
    >>> [(s.uid, s.n_files) for s in list_series("study/")]  # doctest: +SKIP
    [('1.2.840…', 20)]
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medsr.errors import ReadError, SeriesSelectionError
from medsr.io.formats import looks_like_raw_dicom

logger = logging.getLogger(__name__)


@dataclass
class SeriesInfo:
    """One DICOM series in a folder.

    Attributes:
        uid: SeriesInstanceUID (``""`` when the files lack it).
        description: SeriesDescription.
        modality: Modality code (``CT``, ``MR`` …).
        n_files: number of image files in the series.
        rows, columns: image size of the first file (Y, X in medsr's axes).
        files: absolute paths of the files, sorted by name.
        number: SeriesNumber, or None.
        study_uid: StudyInstanceUID.
        n_frames: frames in the first file (> 1 for multi-frame objects).
    """

    uid: str
    description: str
    modality: str
    n_files: int
    rows: int
    columns: int
    files: list[str] = field(default_factory=list)
    number: int | None = None
    study_uid: str = ""
    n_frames: int = 1

    def as_dict(self) -> dict[str, Any]:
        """JSON-able summary without the file list."""
        return {
            "uid": self.uid,
            "description": self.description,
            "modality": self.modality,
            "n_files": self.n_files,
            "rows": self.rows,
            "columns": self.columns,
            "number": self.number,
            "n_frames": self.n_frames,
        }

    def summary(self, index: int) -> str:
        desc = f" '{self.description}'" if self.description else ""
        return f"[{index}] {self.uid or '(no UID)'}{desc} {self.modality or '?'}, {self.n_files} files"


def dicom_kind(path: Path) -> str | None:
    """``"dicom"`` (DICM marker), ``"raw"`` (maybe preamble-less DICOM) or None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return None
    if head[128:132] == b"DICM":
        return "dicom"
    return "raw" if looks_like_raw_dicom(head) else None


def read_header(path: Path, kind: str | None = None) -> Any | None:
    """The pydicom header (no pixels) of an image file, or None when it is not a DICOM image."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    kind = kind or dicom_kind(path)
    if kind is None:
        return None
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=kind == "raw")
    except (InvalidDicomError, OSError, ValueError, KeyError, TypeError, EOFError, AttributeError) as exc:
        log = logger.warning if kind == "dicom" else logger.debug
        log("skipping %s: not a readable DICOM file (%s)", path, exc)
        return None
    if "Rows" not in ds or "Columns" not in ds:
        return None  # DICOMDIR, SR, RTSTRUCT, presentation state …
    return ds


def _image_files(folder: Path) -> list[Path]:
    out: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(Path(root) / f for f in sorted(files) if not f.startswith("."))
    return out


def _info(uid: str, items: list[tuple[Path, Any]]) -> SeriesInfo:
    ds = items[0][1]
    number = ds.get("SeriesNumber")
    try:
        number = int(number) if number not in (None, "") else None
    except (TypeError, ValueError):
        number = None
    return SeriesInfo(
        uid=uid,
        description=str(ds.get("SeriesDescription", "") or ""),
        modality=str(ds.get("Modality", "") or ""),
        n_files=len(items),
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        files=[str(p) for p, _ in items],
        number=number,
        study_uid=str(ds.get("StudyInstanceUID", "") or ""),
        n_frames=int(ds.get("NumberOfFrames", 1) or 1),
    )


def scan_folder(folder: Path) -> list[SeriesInfo]:
    """All image series under ``folder`` (recursively), sorted by SeriesNumber then UID."""
    groups: dict[str, list[tuple[Path, Any]]] = {}
    for path in _image_files(folder):
        ds = read_header(path)
        if ds is not None:
            groups.setdefault(str(ds.get("SeriesInstanceUID", "") or ""), []).append((path.resolve(), ds))
    infos = [_info(uid, items) for uid, items in groups.items()]
    infos.sort(key=lambda s: (s.number if s.number is not None else 1 << 31, s.uid))
    return infos


def list_series(folder: str | Path) -> list[SeriesInfo]:
    """The DICOM image series in ``folder`` (see :class:`SeriesInfo`); index order is stable.

    Raises:
        ReadError: ``folder`` is not a folder.
    """
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ReadError(path, "is not a folder", "give the folder that holds the DICOM files")
    return scan_folder(path)


def select_series(infos: list[SeriesInfo], series: str | int | None, folder: Path) -> SeriesInfo:
    """The series chosen by UID or 0-based index (an all-digit string counts as an index).

    Raises:
        ReadError: the folder holds no DICOM images.
        SeriesSelectionError: several series and no choice, or an unknown choice.
    """
    if not infos:
        raise ReadError(
            folder,
            "no DICOM images found in this folder",
            "give a folder that holds DICOM image files (or a single image file)",
        )
    listing = "; ".join(s.summary(i) for i, s in enumerate(infos))
    remedy = f"pass --series with an index (0 to {len(infos) - 1}) or a SeriesInstanceUID"
    if series is None:
        if len(infos) == 1:
            return infos[0]
        raise SeriesSelectionError(folder, f"the folder holds {len(infos)} DICOM series: {listing}", remedy)
    if isinstance(series, str):
        for info in infos:
            if info.uid == series.strip():
                return info
        if not series.strip().isdigit():
            raise SeriesSelectionError(folder, f"no series with UID {series!r}; the folder holds: {listing}", remedy)
        series = int(series)
    if isinstance(series, bool) or not isinstance(series, int) or not 0 <= series < len(infos):
        raise SeriesSelectionError(
            folder, f"series index {series!r} is out of range; the folder holds: {listing}", remedy
        )
    return infos[series]
