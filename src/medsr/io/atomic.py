"""Atomic writes and output safety: nothing half-written, no input ever overwritten.

Every output is first written into a hidden temporary folder *in the destination folder*
(same file system), then moved into place with :func:`os.replace`. If anything fails, the
temporary folder is removed and earlier moves of the same transaction are rolled back, so
either all outputs (e.g. an image and its sidecar JSON) appear whole or none does.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with Staging() as stage:
    ...     _ = stage.path_for(folder / "a.txt").write_text("done")
    >>> (folder / "a.txt").read_text(), sorted(p.name for p in folder.iterdir())
    ('done', ['a.txt'])
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from medsr.errors import OutputError

logger = logging.getLogger(__name__)

TMP_MARK = ".medsr-tmp-"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


class Staging:
    """A transaction of outputs written beside their destinations and moved in together.

    ``path_for(final)`` returns where to write ``final`` (a file or a folder); files that the
    writer puts next to it (e.g. the ``.raw`` of an ``.mhd``) are moved in as well.
    Leaving the ``with`` block normally commits; an exception aborts and cleans up.
    """

    def __init__(self) -> None:
        self._tmpdirs: list[tuple[Path, Path]] = []  # (temporary folder, destination folder)

    def path_for(self, final: Path) -> Path:
        final = Path(final)
        tmpdir = final.parent / f".{final.name}{TMP_MARK}{secrets.token_hex(4)}"
        tmpdir.mkdir()
        self._tmpdirs.append((tmpdir, final.parent))
        return tmpdir / final.name

    def commit(self) -> None:
        """Move every staged entry into place; on failure restore what was there before."""
        done: list[tuple[Path, Path | None]] = []  # (destination, backup of what it replaced)
        try:
            for tmpdir, dest_dir in self._tmpdirs:
                for entry in sorted(tmpdir.iterdir()):
                    if entry.name.startswith(TMP_MARK):
                        continue
                    done.append(self._move_in(entry, dest_dir / entry.name, tmpdir))
        except OSError as exc:
            self._rollback(done)
            self.abort()
            raise OutputError(
                self._tmpdirs[0][1] if self._tmpdirs else None,
                f"could not move the output into place ({exc})",
                "check free space and permissions of the output folder",
            ) from None
        self.abort()  # removes the now empty temporary folders and any replaced backups

    @staticmethod
    def _move_in(entry: Path, dest: Path, tmpdir: Path) -> tuple[Path, Path | None]:
        backup = None
        if dest.is_dir() and not dest.is_symlink():
            backup = tmpdir / f"{TMP_MARK}old-{dest.name}"
            os.replace(dest, backup)  # a folder cannot be replaced in one step
        elif dest.is_file():
            backup = tmpdir / f"{TMP_MARK}old-{dest.name}"
            try:
                os.link(dest, backup)  # keeps the old file for a rollback; dest is replaced atomically
            except OSError:
                shutil.copy2(dest, backup)
        os.replace(entry, dest)
        return dest, backup

    @staticmethod
    def _rollback(done: list[tuple[Path, Path | None]]) -> None:
        for dest, backup in reversed(done):
            if backup is None:
                _remove(dest)
            elif backup.is_dir():
                _remove(dest)
                os.replace(backup, dest)
            else:
                os.replace(backup, dest)

    def abort(self) -> None:
        """Remove the temporary folders and everything in them."""
        for tmpdir, _ in self._tmpdirs:
            shutil.rmtree(tmpdir, ignore_errors=True)
        self._tmpdirs.clear()

    def __enter__(self) -> Staging:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_not_input(out: Path, sources: Iterable[str | Path], source_folder: str | Path | None) -> None:
    """Refuse an output that is an input file, lies in the input DICOM folder or contains an input.

    Raises:
        OutputError: the output would overwrite or replace part of the input.
    """
    target = out.resolve()
    folder = Path(source_folder).resolve() if source_folder else None
    if folder is not None and (_is_within(target, folder) or _is_within(folder, target)):
        raise OutputError(
            out, f"the output lies in or contains the input DICOM folder {folder}", "write to a different folder"
        )
    for src in sources:
        s = Path(src).resolve()
        if _is_within(s, target):
            raise OutputError(
                out,
                f"the output would overwrite the input {s}",
                "choose another output name; inputs are never overwritten",
            )


def check_destination(out: Path, *, overwrite: bool, is_dir: bool = False) -> None:
    """Refuse a missing parent folder, or an existing output unless ``overwrite``.

    An existing folder is only replaced when it holds nothing but files (a previous
    DICOM output), never a folder with sub-folders.

    Raises:
        OutputError: the parent folder is missing, or the output exists.
    """
    parent = out.parent
    if not parent.is_dir():
        raise OutputError(out, f"folder {parent} does not exist", "create it first")
    if not (out.exists() or out.is_symlink()):
        return
    if not overwrite:
        raise OutputError(out, "the output already exists", "choose another name or pass --overwrite (overwrite=True)")
    if out.is_dir() and not is_dir:
        raise OutputError(out, "a folder with this name exists and the output is a file", "choose another output name")
    if is_dir and not out.is_dir():
        raise OutputError(
            out, "a file with this name exists and the output is a DICOM folder", "choose another output name"
        )
    if is_dir and any(p.is_dir() for p in out.iterdir()):
        raise OutputError(
            out,
            "the existing folder holds sub-folders; medsr only replaces a folder of files it could have written",
            "choose another output folder",
        )
