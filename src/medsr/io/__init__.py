"""Reading and writing medical images with exact geometry: ``read``, ``write``, ``describe``.

Formats: NIfTI, NRRD and MetaImage (SimpleITK), DICOM files and folders (pydicom), PNG,
TIFF and JPEG (Pillow, tifffile). Every problem is raised as a :mod:`medsr.errors` class
whose message is one line naming the file, the values and a remedy; no traceback of a
third-party library escapes. Writes are atomic and never touch an input.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> from medsr.image import Image
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> img = Image(np.zeros((1, 4, 5, 6), np.float32), spacing=(0.5, 0.5, 2.0))
    >>> out = write(img, folder / "a.nii.gz", sidecar={"method": "none"})
    >>> sorted(p.name for p in folder.iterdir())
    ['a.json', 'a.nii.gz']
    >>> read(out).spacing.tolist()
    [0.5, 0.5, 2.0]
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medsr.errors import MedsrError, OutputError, ReadError
from medsr.geometry import validate_spacing
from medsr.image import Image
from medsr.io.dicom_scan import SeriesInfo, list_series
from medsr.io.sidecar import sidecar_path, software_versions

__all__ = ["read", "write", "describe", "list_series", "SeriesInfo", "sidecar_path", "software_versions"]

logger = logging.getLogger(__name__)


def _first_line(exc: BaseException) -> str:
    """One short line from a third-party exception: ITK's class names, addresses and source
    paths are dropped (``ITK ERROR: NiftiImageIO(0x55…): …`` → ``ITK: …``)."""
    import re

    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    itk = "ITK ERROR" in str(exc)
    text = lines[-1] if lines and itk else (lines[0] if lines else "")
    if itk:
        text = re.sub(r"^.*?ITK ERROR: \w+\(0x[0-9a-f]+\):\s*", "", text)
        text = re.sub(r"/\S+\.(?:hxx|cxx|h|cpp):\d+:?", "", text)
        return f"ITK: {text[:200]}"
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _read_any(path: Path, series: str | int | None, check: bool) -> Image:
    from medsr.io.formats import detect_format, suffix_format

    if not path.exists():
        if path.is_symlink():
            raise ReadError(path, f"is a broken link (to {os.readlink(path)})", "point it at an existing file")
        raise ReadError(path, "does not exist", "check the path")
    if path.is_dir():
        kind = suffix_format(path)
        if kind is not None and kind != "dicom":
            raise ReadError(path, f"is a folder, not a {kind} file", "give the image file itself")
        from medsr.io.dicom_read import read_dicom

        return read_dicom(path, series)
    if not os.access(path, os.R_OK):
        raise ReadError(path, "cannot be opened (permission denied)", "check the file permissions")
    fmt = detect_format(path)
    if fmt in ("nifti", "nrrd", "mha"):
        from medsr.io.sitk_formats import read_sitk

        return read_sitk(path, fmt, check)
    if fmt == "dicom":
        from medsr.io.dicom_read import read_dicom

        return read_dicom(path, series)
    from medsr.io.raster import read_raster

    return read_raster(path, fmt)


class _Buffer(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _deferred_log() -> Iterator[None]:
    """Hold the readers' log records until the read succeeds: a file that fails to read gets its
    one error line, not a warning about a tag and then the error."""
    io_log = logging.getLogger("medsr.io")
    buffer, propagate = _Buffer(), io_log.propagate
    io_log.addHandler(buffer)
    io_log.propagate = False
    ok = False
    try:
        yield
        ok = True
    finally:
        io_log.removeHandler(buffer)
        io_log.propagate = propagate
        for record in buffer.records:
            if ok:
                logging.getLogger(record.name).handle(record)
            else:
                logger.debug("(before the error) %s", record.getMessage())


def _validate(image: Image, path: Path) -> None:
    validate_spacing(image.spacing, str(path))
    image.check_finite()


def read(path: str | Path, series: str | int | None = None, *, check: bool = True) -> Image:
    """Read an image file or DICOM folder into an :class:`Image` (C, X, Y, Z), LPS mm.

    Args:
        path: a NIfTI/NRRD/MHA/MHD, DICOM, PNG, TIFF or JPEG file, or a folder of DICOM files.
        series: for a folder with several series, a SeriesInstanceUID or 0-based index
            (see :func:`list_series`).
        check: also refuse NaN/Inf values (spacing and size are always checked).

    Raises:
        ReadError: missing, unreadable, truncated or corrupt input; a folder without images.
        UnsupportedFormatError: neither content nor suffix is a known format.
        SeriesSelectionError: several series and none (or an unknown one) chosen.
        GeometryError: zero/invalid spacing, duplicated or grossly irregular slices.
        InvalidImageError: NaN/Inf (with ``check``), zero size, more than 3 axes + channels.
    """
    p = Path(path).expanduser()
    try:
        with _deferred_log():
            image = _read_any(p, series, check)
            if check:
                _validate(image, p)
        from medsr.io.atomic import register_inputs

        register_inputs([p, *input_files(image)])
        return image
    except MedsrError as exc:
        if exc.path is None:
            raise type(exc)(p, exc.reason, exc.remedy) from None
        raise
    except MemoryError:
        raise ReadError(p, "not enough memory to read it", "free memory or crop the image first") from None
    except Exception as exc:  # a third-party failure on bad content: never let a traceback out
        logger.debug("reading %s failed", p, exc_info=True)
        raise ReadError(
            p,
            f"could not be read ({_first_line(exc)})",
            "check that the file is complete and not corrupt, or re-export it",
        ) from None


def _companion(path: Path) -> list[Path]:
    """The detached data file that SimpleITK writes beside ``.mhd``/``.nhdr`` headers."""
    if path.name.lower().endswith(".mhd"):
        return [path.with_suffix(".raw")]
    if path.name.lower().endswith(".nhdr"):
        return [path.with_suffix(".raw.gz"), path.with_suffix(".raw")]
    return []


def input_files(image: Image) -> list[str]:
    """Every file an image was read from: the file or folder, DICOM files, detached data files."""
    header = image.meta.header
    found = [image.meta.source_path, header.get("source_folder"), *(header.get("files") or [])]
    found += list(header.get("data_files") or [])
    return [s for s in found if s]


def _sources(image: Image) -> tuple[list[str], str | None]:
    return input_files(image), image.meta.header.get("source_folder")


def _check_outputs(image: Image, out: Path, fmt: str, overwrite: bool, side: Path | None) -> None:
    from medsr.io.atomic import check_destination, check_not_input
    from medsr.io.formats import check_output_name

    check_output_name(out, fmt)
    sources, folder = _sources(image)
    targets = [out] + _companion(out)
    targets += [side] if side is not None else []
    for target in targets:
        check_not_input(target, sources, folder)
        check_destination(target, overwrite=overwrite, is_dir=fmt == "dicom" and target == out)
    if fmt == "dicom":
        from medsr.io.dicom_write import check_dicom_source

        check_dicom_source(image, out)


def _write_one(
    image: Image, tmp: Path, fmt: str, dtype: str, sidecar: dict[str, Any] | None
) -> tuple[str, dict[str, Any]]:
    """Write into the staged path; returns the dtype name used and facts for the sidecar."""
    if fmt == "dicom":
        from medsr.io.dicom_write import write_dicom_series

        return "int16", write_dicom_series(image, tmp, dtype=dtype, sidecar=sidecar)
    if fmt in ("png", "tiff"):
        from medsr.io.raster import write_raster

        return write_raster(image, tmp, dtype), {}
    from medsr.io.dtypes import resolve_dtype
    from medsr.io.sitk_formats import write_sitk

    np_dtype = resolve_dtype(dtype, image.meta.source_dtype)
    write_sitk(image, tmp, np_dtype)
    return np_dtype.name, {}


def _check_finite_output(image: Image, out: Path) -> None:
    """Refuse NaN/Inf in an output (checked in chunks, so memmaps stay cheap)."""
    import numpy as np

    flat = image.data.reshape(image.data.shape[0], -1)
    step = 1 << 22
    bad = 0
    for c in range(flat.shape[0]):
        for i in range(0, flat.shape[1], step):
            bad += int(np.count_nonzero(~np.isfinite(flat[c, i : i + step])))
    if bad:
        raise OutputError(
            out,
            f"the result holds {bad} NaN or infinite values; medsr does not write them",
            "check the input range and the model (a bundle with NaN weights, an extreme input); "
            "pass --allow-nan only if the input itself held NaN on purpose",
        )


def write(
    image: Image,
    path: str | Path,
    *,
    dtype: str = "float32",
    overwrite: bool = False,
    sidecar: dict[str, Any] | None = None,
    format: str | None = None,
    allow_nan: bool = False,
    stage: Any = None,
) -> Path:
    """Write ``image`` atomically; returns the absolute output path.

    Args:
        image: the image; its ``meta.header`` must come from DICOM for a DICOM output.
        path: ``.nii``/``.nii.gz``/``.nrrd``/``.mha``/``.mhd``/``.png``/``.tif``/``.tiff``, or a
            path without suffix for a DICOM series folder.
        dtype: ``"float32"`` (default), ``"input"`` (``meta.source_dtype``, rounded and clipped)
            or a numpy name such as ``"int16"``/``"uint8"``. PNG/TIFF are always 8 or 16 bit
            (see :mod:`medsr.io.raster`); DICOM is int16 with a fitted rescale
            (see :mod:`medsr.io.dicom_write`).
        overwrite: replace an existing output (never an input).
        sidecar: when given, also write this dict, completed by :mod:`medsr.io.sidecar`, as JSON
            next to the output. For DICOM, ``derivation_description`` and ``series_description``
            keys set those attributes.
        format: ``"nifti"``, ``"nrrd"``, ``"mha"``, ``"png"``, ``"tiff"`` or ``"dicom"``;
            default from the suffix.
        allow_nan: write NaN/Inf values (refused by default: medsr never writes silent garbage).
        stage: a :class:`medsr.io.atomic.Staging` to write into, so that several outputs appear
            together when the caller's transaction commits (default: commit this one now).

    Raises:
        OutputError: the output exists (without ``overwrite``), is or contains an input, its
            folder is missing, or the image cannot be stored in that format.
        UnsupportedFormatError: unknown suffix or ``format``.
        ConfigError: unknown ``dtype``.
    """
    from medsr.io.atomic import Staging
    from medsr.io.formats import output_format
    from medsr.io.sidecar import build_sidecar, write_json

    out = Path(path).expanduser().absolute()
    try:
        fmt = output_format(out, format)
        side = sidecar_path(out) if sidecar is not None else None
        _check_outputs(image, out, fmt, overwrite, side)
        if not allow_nan:
            _check_finite_output(image, out)
        own = stage is None
        unit = Staging(overwrite=overwrite) if own else stage
        try:
            used, facts = _write_one(image, unit.path_for(out, checked=True), fmt, dtype, sidecar)
            if side is not None:
                write_json(unit.path_for(side, checked=True), build_sidecar(image, out, fmt, used, sidecar, facts))
        except BaseException:
            if own:
                unit.abort()
            raise
        if own:
            unit.commit()
    except MedsrError as exc:
        if exc.path is None:
            raise type(exc)(out, exc.reason, exc.remedy) from None
        raise
    except Exception as exc:  # SimpleITK/pydicom/OS failure: the staging is already cleaned up
        logger.debug("writing %s failed", out, exc_info=True)
        raise OutputError(
            out, f"could not be written ({_first_line(exc)})", "check free space and permissions of the output folder"
        ) from None
    logger.info("wrote %s (%s, %s)", out, fmt, used)
    return out


def describe(path: str | Path, series: str | int | None = None) -> dict[str, Any]:
    """A JSON-able description for ``medsr info``; see :func:`medsr.io.summary.describe`."""
    from medsr.io.summary import describe as _describe

    return _describe(path, series)
