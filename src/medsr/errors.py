"""Errors that medsr raises for bad input, bad configuration and refused actions.

Every error names the file (when there is one), the values involved and a remedy.
The CLI prints ``str(err)`` as a single line and exits with code 2.

Example:
    >>> err = ReadError("scan.nii.gz", "file is truncated", "re-export the volume")
    >>> str(err)
    'scan.nii.gz: file is truncated. Remedy: re-export the volume.'
"""

from __future__ import annotations

from pathlib import Path


class MedsrError(Exception):
    """Base class: a user-facing problem with a path, a reason and a remedy."""

    def __init__(self, path: str | Path | None, reason: str, remedy: str = "") -> None:
        self.path = None if path is None else str(path)
        self.reason = reason.rstrip(".")
        self.remedy = remedy.rstrip(".")
        super().__init__(self.message)

    @property
    def message(self) -> str:
        head = f"{self.path}: {self.reason}" if self.path else self.reason
        text = f"{head}. Remedy: {self.remedy}." if self.remedy else f"{head}."
        return " ".join(text.split())  # one line, always


class ReadError(MedsrError):
    """A file or folder could not be read (corrupt, truncated, no image data)."""


class UnsupportedFormatError(MedsrError):
    """The file's format (extension or content) is not one medsr reads or writes."""


class SeriesSelectionError(MedsrError):
    """A DICOM folder holds several series and none was chosen, or the choice is unknown."""


class GeometryError(MedsrError):
    """Spacing, origin, direction or size is missing, zero, non-finite or impossible."""


class InvalidImageError(MedsrError):
    """Pixel values or shape cannot be processed (NaN/Inf, zero size, too many dimensions)."""


class OutputError(MedsrError):
    """An output cannot be written: it exists, it is an input, or its folder is missing."""


class ConfigError(MedsrError):
    """A configuration file or option has a wrong type, range or name."""


class BundleError(MedsrError):
    """A model bundle is malformed, unsafe (pickle) or incompatible with the input."""


class ResourceError(MedsrError):
    """The work would need more memory (or another resource) than this machine has."""
