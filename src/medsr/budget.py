"""The memory budget: refuse, before allocating, what would not fit in this machine's memory.

Every verb estimates its peak bytes from the plan (input, output, working copies) and calls
:func:`check_fits` before it allocates. The budget is 3/4 of the memory the kernel reports as
available (``MemAvailable``), at most :data:`DEFAULT_LIMIT` (4 GiB, so that one hostile or
mistyped job cannot take a laptop or a shared server down), or ``MEDSR_MEMORY_LIMIT`` (bytes, or
with a K/M/G suffix) when that is set: ``MEDSR_MEMORY_LIMIT=16G`` allows larger jobs.

Example:
    >>> check_fits(1 << 20, "a 1 MiB buffer")          # fits anywhere
    >>> try:
    ...     check_fits(1 << 62, "the output grid", remedy="choose smaller factors")
    ... except Exception as err:
    ...     print(type(err).__name__)
    ResourceError
"""

from __future__ import annotations

import os
from pathlib import Path

from medsr.errors import ResourceError

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _parse_bytes(text: str) -> int | None:
    t = text.strip().upper().rstrip("B").rstrip("I")
    unit = t[-1:] if t[-1:] in _UNITS and not t[-1:].isdigit() else ""
    try:
        value = float(t[: len(t) - len(unit)] if unit else t)
    except ValueError:
        return None
    return int(value * _UNITS[unit]) if value > 0 else None


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


#: The budget when ``MEDSR_MEMORY_LIMIT`` is not set (bytes).
DEFAULT_LIMIT = 4 << 30


def available_bytes() -> int:
    """Bytes medsr may allocate now: 3/4 of ``MemAvailable`` (the rest is left to the OS and the
    other processes), capped by ``MEDSR_MEMORY_LIMIT``, else by :data:`DEFAULT_LIMIT`."""
    avail = _meminfo_available()
    if avail is None:
        try:
            avail = int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            avail = 8 << 30
    avail = avail * 3 // 4
    limit = _parse_bytes(os.environ.get("MEDSR_MEMORY_LIMIT", ""))
    return min(avail, limit) if limit else min(avail, DEFAULT_LIMIT)


def human(nbytes: float) -> str:
    """``1.5 GB``-style text for a byte count (decimal units)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= size:
            return f"{nbytes / size:.3g} {unit}"
    return f"{int(nbytes)} bytes"


def check_fits(nbytes: float, what: str, path: str | Path | None = None, remedy: str = "") -> None:
    """Raise :class:`ResourceError` when ``nbytes`` exceed :func:`available_bytes`.

    Args:
        nbytes: the estimated peak bytes of the step.
        what: what needs them, for the message (e.g. ``"the 512×512×500 output"``).
        path: the file concerned, if any.
        remedy: what the user can do (an option that exists for the verb at hand).
    """
    avail = available_bytes()
    if nbytes > avail:
        raise ResourceError(
            path,
            f"{what} would need about {human(nbytes)} of memory, more than the {human(avail)} available",
            (remedy or "crop or downsample the input first")
            + "; or allow more with MEDSR_MEMORY_LIMIT (e.g. MEDSR_MEMORY_LIMIT=16G) on a machine that has it",
        )


#: Compression ratios above this, for an inflated size above :data:`BOMB_MIN_BYTES`, are refused as
#: decompression bombs (CT and MR volumes compress 2-10×, masks a few hundred ×).
BOMB_RATIO = 1000
BOMB_MIN_BYTES = 1 << 30


def check_inflation(compressed_bytes: int, inflated_bytes: int, path: str | Path | None) -> None:
    """Refuse a compressed file that announces far more data than it could hold.

    Example:
        >>> check_inflation(10 << 20, 200 << 20, "scan.nii.gz")   # 20×: an ordinary volume
    """
    if inflated_bytes > BOMB_MIN_BYTES and inflated_bytes > BOMB_RATIO * max(1, compressed_bytes):
        raise ResourceError(
            path,
            f"{human(compressed_bytes)} of compressed data announce {human(inflated_bytes)} of voxels "
            f"(more than {BOMB_RATIO}× compression: a decompression bomb)",
            "check where the file comes from; re-export it from the original data",
        )


#: The one pixel-count limit of every 2D reader (PNG, TIFF, JPEG, 2D DICOM, 2D NIfTI/NRRD/MHA
#: planes): twice Pillow's decompression-bomb warning threshold, i.e. its error threshold.
MAX_2D_PIXELS = 2 * 89_478_485


def check_pixels(n_pixels: int, path: str | Path | None, what: str = "the image") -> None:
    """Refuse a plane of more than :data:`MAX_2D_PIXELS` pixels (a decompression bomb).

    Example:
        >>> check_pixels(4096 * 4096, "big.png")
    """
    if n_pixels > MAX_2D_PIXELS:
        raise ResourceError(
            path,
            f"{what} has {n_pixels / 1e6:.0f} Mpixel per plane, more than medsr's limit of "
            f"{MAX_2D_PIXELS / 1e6:.0f} Mpixel (a decompression bomb, or an image too large for one pass)",
            "crop or downscale the image first, e.g. into tiles",
        )
