"""Accumulate weighted tile outputs at HR size, in RAM or in a memory-mapped temporary file.

:class:`Stitcher` keeps ``Σ w·y`` in the output array and ``Σ w`` in a spatial weight array;
:meth:`Stitcher.finalize` divides, slab by slab along the first spatial axis so no HR-sized
temporary is made. When the tiles are disjoint (``weighted=False``) values are written
directly and no weight array exists. With ``folder`` both arrays are ``np.memmap`` files
created there and unlinked at once (POSIX), so an output larger than RAM streams to disk and
leaves nothing behind.

Example:
    >>> s = Stitcher(1, (4,))
    >>> s.add(np.ones((1, 3)), (slice(0, 3),), np.full(3, 1.0, np.float32))
    >>> s.add(np.full((1, 3), 3.0), (slice(1, 4),), np.full(3, 1.0, np.float32))
    >>> s.finalize().tolist()
    [[1.0, 2.0, 2.0, 3.0]]
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from medsr.errors import OutputError

log = logging.getLogger(__name__)


def temp_memmap(
    folder: str | os.PathLike[str], shape: Sequence[int], dtype: np.dtype | type = np.float32, prefix: str = "medsr-"
) -> np.memmap:
    """A zero-filled ``np.memmap`` in ``folder``; the file is unlinked at once where possible."""
    d = Path(folder)
    if not d.is_dir():
        raise OutputError(d, "folder for the memory-mapped output does not exist", "create it or pass another")
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".dat", dir=d)
    os.close(fd)
    try:
        arr = np.memmap(name, dtype=dtype, mode="w+", shape=tuple(int(s) for s in shape))
    except OSError as exc:
        os.unlink(name)
        raise OutputError(
            d, f"cannot create a {tuple(shape)} memory map ({exc})", "free disk space or choose another folder"
        ) from None
    try:
        os.unlink(name)  # the mapping keeps the data alive; nothing is left on disk
    except OSError:  # e.g. Windows: the file stays until the array is released
        log.debug("could not unlink memmap %s", name)
    return arr


class Stitcher:
    """Weighted accumulation of ``(C, *core_hr)`` blocks into ``(C, *shape)``.

    Args:
        channels: C of the output.
        shape: HR spatial shape.
        out: optional preallocated ``(C, *shape)`` float array (e.g. a memmap); zeroed here.
        folder: create the output (and the weights) as memory maps in this folder.
        weighted: False when blocks never overlap (write instead of blend).
    """

    def __init__(
        self,
        channels: int,
        shape: Sequence[int],
        *,
        out: np.ndarray | None = None,
        folder: str | os.PathLike[str] | None = None,
        weighted: bool = True,
    ) -> None:
        full = (int(channels), *(int(s) for s in shape))
        if out is not None:
            if tuple(out.shape) != full:
                raise OutputError(
                    None,
                    f"output array has shape {tuple(out.shape)}, expected {full}",
                    "allocate (C, *input_shape*scale)",
                )
            out[...] = 0
            self.out = out
        elif folder is not None:
            self.out = temp_memmap(folder, full)
        else:
            self.out = np.zeros(full, np.float32)
        self.weighted = weighted
        self.wsum: np.ndarray | None = None
        if weighted:
            self.wsum = temp_memmap(folder, full[1:]) if folder is not None else np.zeros(full[1:], np.float32)

    def add(self, values: np.ndarray, where: tuple[slice, ...], weight: np.ndarray | None = None) -> None:
        """Add ``values`` (C, *core_hr) at spatial slices ``where`` with ``weight`` (*core_hr)."""
        idx = (slice(None),) + tuple(where)
        if not self.weighted or self.wsum is None:
            self.out[idx] = values
            return
        w = np.ones(values.shape[1:], np.float32) if weight is None else weight
        self.out[idx] += values * w
        self.wsum[tuple(where)] += w

    def finalize(self) -> np.ndarray:
        """Divide by the weights (voxels never written stay 0) and return the output array."""
        if self.weighted and self.wsum is not None:
            n = self.out.shape[1]
            step = max(1, int(2**24 // max(1, int(np.prod(self.out.shape[2:])))))
            for i in range(0, n, step):
                w = self.wsum[i : i + step]
                safe = np.where(w > 0, w, 1.0).astype(np.float32)
                self.out[:, i : i + step] /= safe
            self.wsum = None
        if isinstance(self.out, np.memmap):
            self.out.flush()
        return self.out
