"""Confinement of detached data files: a header may only point at regular files beside it.

MetaImage (``ElementDataFile``) and detached NRRD (``data file``) headers name the file that
holds the voxels. A hostile header could name ``/etc/passwd``, ``../secret.bin``,
``/proc/self/environ`` or a named pipe; medsr resolves every such reference itself, before any
library sees it, and refuses anything outside the header's folder (after following links),
anything that is not a regular file, and anything whose size does not match the header.
Every referenced file then counts as part of the input (it is never overwritten).

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.raw").write_bytes(bytes(8))
    >>> resolve_data_file(folder / "a.mhd", "a.raw", min_bytes=8).name
    'a.raw'
    >>> try:
    ...     resolve_data_file(folder / "a.mhd", "/etc/passwd")
    ... except Exception as err:
    ...     print(type(err).__name__)
    ReadError
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from medsr.errors import ReadError

#: most files a LIST or pattern data-file reference may name
MAX_DATA_FILES = 100_000


def resolve_data_file(header: Path, name: str, *, min_bytes: int = 0, exact_bytes: int | None = None) -> Path:
    """The real path of the data file ``name`` that ``header`` references.

    Raises:
        ReadError: an absolute path or one that leaves the header's folder (links followed),
            a missing file, something other than a regular file (a pipe, a device, a folder),
            or a size below ``min_bytes`` / other than ``exact_bytes``.
    """
    text = name.strip()
    if not text or "\x00" in text:
        raise ReadError(header, "the header names an empty data file", "fix the data-file line of the header")
    folder = header.resolve().parent
    if os.path.isabs(text):
        raise ReadError(
            header,
            f"the header's data file {text!r} is an absolute path; medsr reads data files only from the "
            f"header's own folder {folder}",
            "put the data file beside the header and name it without a folder",
        )
    target = (folder / text).resolve()
    if target.parent != folder and folder not in target.parents:
        raise ReadError(
            header,
            f"the header's data file {text!r} lies outside the header's folder {folder}",
            "put the data file beside the header and name it without '..' or links out of the folder",
        )
    try:
        st = os.stat(target)
    except OSError:
        raise ReadError(
            header, f"the data file {text!r} named in the header does not exist", "copy it beside the header"
        ) from None
    if not stat.S_ISREG(st.st_mode):
        raise ReadError(
            header,
            f"the data file {text!r} named in the header is not a regular file",
            "name a regular file beside the header",
        )
    if exact_bytes is not None and st.st_size != exact_bytes:
        raise ReadError(
            header,
            f"the data file {text!r} has {st.st_size} bytes where the header announces {exact_bytes}",
            "re-export the image; header and data file do not belong together",
        )
    if st.st_size < min_bytes:
        raise ReadError(
            header,
            f"the data file {text!r} has {st.st_size} bytes, fewer than the {min_bytes} the header announces",
            "re-export or re-copy the image (the data file is truncated)",
        )
    return target


def resolve_reference(header: Path, spec: str, list_offset: int, what: str) -> list[Path]:
    """Every data file a header's reference names, confined by :func:`resolve_data_file`.

    ``spec`` is a file name, ``LIST`` (the names follow the header, from byte ``list_offset``,
    one per line) or a ``printf`` pattern with a range (``slice%03d.raw 1 40 1``); ``what`` names
    the header field in errors (``ElementDataFile``, ``data file``).
    """
    parts = spec.split()
    if not parts:
        raise ReadError(header, f"the header's {what} is empty", "fix the header")
    if parts[0].upper() == "LIST":
        with open(header, "rb") as fh:
            fh.seek(list_offset)
            names = [s.strip() for s in fh.read(1 << 16).decode("latin-1").splitlines() if s.strip()]
        if not names or len(names) > MAX_DATA_FILES:
            raise ReadError(header, f"the header's {what} LIST names no files, or too many", "fix the header")
        return [resolve_data_file(header, s) for s in names]
    if len(parts) >= 4 and "%" in parts[0]:
        try:
            first, last, step = (int(v) for v in parts[1:4])
        except ValueError:
            raise ReadError(header, f"the {what} pattern {spec!r} has no valid range", "fix the header") from None
        return [resolve_data_file(header, s) for s in pattern_names(header, parts[0], first, last, step)]
    return [resolve_data_file(header, spec)]


def pattern_names(header: Path, pattern: str, first: int, last: int, step: int) -> list[str]:
    """The file names of a ``printf``-style pattern reference (``slice%03d.raw 1 40 1``)."""
    if step == 0 or (last - first) / step < 0 or abs((last - first) // step) + 1 > MAX_DATA_FILES:
        raise ReadError(
            header,
            f"the data-file pattern {pattern!r} {first} {last} {step} names no files or too many",
            "fix the range of the data-file pattern",
        )
    try:
        return [pattern % i for i in range(first, last + (1 if step > 0 else -1), step)]
    except (TypeError, ValueError, OverflowError):
        raise ReadError(header, f"the data-file pattern {pattern!r} is not a valid pattern", "fix the header") from None
