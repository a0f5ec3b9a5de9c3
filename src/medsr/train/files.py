"""Atomic file writes for run folders: write beside the target, then rename over it.

A run folder is read by people and by ``--resume`` while training goes on, so a checkpoint,
a log or a plot is either the old file or the new one, never half of each.

Example:
    >>> import tempfile, pathlib
    >>> p = atomic_write(pathlib.Path(tempfile.mkdtemp()) / "a.txt", "hello")
    >>> p.read_text()
    'hello'
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from medsr.errors import OutputError


def atomic_write(path: str | Path, payload: str | bytes | Callable[[Path], None]) -> Path:
    """Write ``payload`` (text, bytes, or a function writing to the temporary path) to ``path``."""
    out = Path(path)
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
    try:
        if callable(payload):
            payload(tmp)
        elif isinstance(payload, bytes):
            tmp.write_bytes(payload)
        else:
            tmp.write_text(payload)
        os.replace(tmp, out)
    except OSError as exc:
        raise OutputError(
            out, f"cannot write ({exc.strerror or exc})", "check that the folder exists and is writable"
        ) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return out
