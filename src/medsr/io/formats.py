"""Which file format a path holds or should be written as: suffixes and content sniffing.

Reading trusts the content first (magic bytes) and the suffix second, so a PNG named
``.jpg`` or a DICOM file without a suffix is still read. Writing goes by the suffix or an
explicit ``format=``; a path without a suffix means a DICOM series folder.

Example:
    >>> from pathlib import Path
    >>> suffix_format(Path("scan.nii.gz")), output_format(Path("out.nrrd"))
    ('nifti', 'nrrd')
"""

from __future__ import annotations

import gzip
from pathlib import Path

from medsr.errors import OutputError, UnsupportedFormatError

#: suffix (lower case, longest first when matching) -> format read by medsr
READ_SUFFIXES: dict[str, str] = {
    ".nii.gz": "nifti",
    ".nii": "nifti",
    ".nrrd": "nrrd",
    ".nhdr": "nrrd",
    ".mha": "mha",
    ".mhd": "mha",
    ".dcm": "dicom",
    ".dicom": "dicom",
    ".ima": "dicom",
    ".png": "png",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
}

#: suffix -> format written by medsr
WRITE_SUFFIXES: dict[str, str] = {
    ".nii.gz": "nifti",
    ".nii": "nifti",
    ".nrrd": "nrrd",
    ".nhdr": "nrrd",
    ".mha": "mha",
    ".mhd": "mha",
    ".png": "png",
    ".tif": "tiff",
    ".tiff": "tiff",
}

#: ``format=`` names accepted by write and the suffix each gets when none is given
WRITE_FORMATS: dict[str, str] = {
    "nifti": ".nii.gz",
    "nrrd": ".nrrd",
    "mha": ".mha",
    "png": ".png",
    "tiff": ".tif",
    "dicom": "",
}

SUPPORTED_READ = (
    "NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr), MetaImage (.mha, .mhd), DICOM files and folders, PNG, TIFF, JPEG"
)
SUPPORTED_WRITE = (
    "NIfTI (.nii, .nii.gz), NRRD (.nrrd), MetaImage (.mha, .mhd), PNG, TIFF (.tif), "
    "or a DICOM series folder (a path without suffix)"
)

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_NIFTI_MAGIC = (b"n+1\x00", b"ni1\x00")
_NIFTI2_MAGIC = (b"n+2\x00", b"ni2\x00")


def suffix_of(path: Path, table: dict[str, str]) -> str | None:
    """The longest suffix of ``path`` (lower case) that is a key of ``table``, or None."""
    name = path.name.lower()
    for suffix in sorted(table, key=len, reverse=True):
        if name.endswith(suffix) and len(name) > len(suffix):
            return suffix
    return None


def suffix_format(path: Path) -> str | None:
    """The read format named by the suffix of ``path``, or None when the suffix is unknown."""
    suffix = suffix_of(path, READ_SUFFIXES)
    return READ_SUFFIXES[suffix] if suffix else None


def _head(path: Path, n: int = 352) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def _sniff_bytes(head: bytes) -> str | None:
    if head[128:132] == b"DICM":
        return "dicom"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:4] in _TIFF_MAGIC:
        return "tiff"
    if head[:4] == b"NRRD":
        return "nrrd"
    if head[344:348] in _NIFTI_MAGIC or head[4:8] in _NIFTI2_MAGIC:
        return "nifti"
    text = head[:64].lstrip()
    if text.startswith((b"ObjectType", b"NDims")):
        return "mha"
    return None


def looks_like_raw_dicom(head: bytes) -> bool:
    """True when ``head`` may start a DICOM data set without the 128-byte preamble.

    Such files begin with a little-endian tag of group 0x0002 (file meta) or 0x0008.
    """
    if len(head) < 8:
        return False
    group = int.from_bytes(head[:2], "little")
    element = int.from_bytes(head[2:4], "little")
    return group in (0x0002, 0x0008) and element < 0x0100


def sniff_format(path: Path) -> str | None:
    """The format recognised from the first bytes of a file, or None.

    Gzip files are opened to look for a NIfTI header. Preamble-less DICOM is reported as
    ``"dicom"`` only by :func:`looks_like_raw_dicom`, which the DICOM reader then verifies.
    """
    head = _head(path)
    found = _sniff_bytes(head)
    if found is None and head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as fh:
                found = _sniff_bytes(fh.read(352))
        except (OSError, EOFError):
            return None
    if found is None and looks_like_raw_dicom(head):
        found = "dicom"
    return found


def detect_format(path: Path) -> str:
    """The read format of an existing file: content first, then suffix.

    Raises:
        UnsupportedFormatError: neither the content nor the suffix is one medsr reads.
    """
    found = sniff_format(path)
    if found is not None:
        return found
    by_suffix = suffix_format(path)
    if by_suffix is not None:
        return by_suffix  # the reader reports the broken content as a ReadError
    raise UnsupportedFormatError(
        path,
        f"unknown image format (suffix {''.join(path.suffixes) or 'none'!r}, content not recognised)",
        f"convert it to one of: {SUPPORTED_READ}",
    )


def output_format(path: Path, format: str | None = None) -> str:
    """The format to write ``path`` in: ``format=`` when given, else from the suffix.

    A path without a suffix is a DICOM series folder.

    Raises:
        UnsupportedFormatError: unknown ``format=`` or suffix.
    """
    if format is not None:
        key = format.lower().strip().lstrip(".")
        key = {"nii": "nifti", "nii.gz": "nifti", "mhd": "mha", "tif": "tiff", "dcm": "dicom"}.get(key, key)
        if key not in WRITE_FORMATS:
            raise UnsupportedFormatError(
                path, f"unknown output format {format!r}", f"use one of {', '.join(WRITE_FORMATS)}"
            )
        suffix = suffix_of(path, WRITE_SUFFIXES)
        if key != "dicom" and (suffix is None or WRITE_SUFFIXES[suffix] != key):
            raise OutputError(
                path,
                f"the file name does not end in a {key} suffix ({WRITE_FORMATS[key]})",
                f"name the output e.g. {path.name.split('.')[0]}{WRITE_FORMATS[key]}",
            )
        return key
    suffix = suffix_of(path, WRITE_SUFFIXES)
    if suffix is not None:
        return WRITE_SUFFIXES[suffix]
    if not path.suffix:
        return "dicom"
    raise UnsupportedFormatError(
        path, f"cannot write files with suffix {path.suffix!r}", f"use one of: {SUPPORTED_WRITE}"
    )


def check_output_name(path: Path, fmt: str) -> None:
    """Refuse a DICOM folder name that looks like a file (e.g. ``out.dcm``)."""
    if fmt == "dicom" and path.suffix.lower() in (".dcm", ".json"):
        raise OutputError(
            path,
            "a DICOM series is written as a folder, not as one file",
            "give a folder name without suffix, e.g. out_series",
        )
