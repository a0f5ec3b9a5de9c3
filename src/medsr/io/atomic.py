"""The one output guard and atomic writer: nothing half-written, no input ever lost.

Every file medsr writes (images, DICOM series folders, sidecars, JSON/CSV, figures, reports,
uncertainty maps, bundles, run folders) goes through :class:`Staging`:

* :meth:`Staging.path_for` first runs :func:`check_output`: the destination must not be, link
  to, contain or lie inside an input (every file :func:`medsr.read` opened in this process,
  detached data files included, see :func:`register_inputs`); its folder must exist; an existing
  destination is refused unless ``overwrite``, and even then a folder is only replaced when
  medsr wrote it (recognised by its sidecar or by its DICOM files), never a foreign folder.
* The output is written into a hidden staging folder beside its destination (same file
  system), ``.<name>.medsr-tmp-<pid>-<random>``.
* :meth:`Staging.commit` moves every staged entry into place. A new destination is claimed
  with link-or-fail (a file) or an exclusive ``mkdir`` (a folder), so two runs racing for the
  same output cannot both succeed; an existing one (``overwrite``) is replaced with a backup
  that is restored if a later move of the same transaction fails. Either all outputs of a unit
  appear whole, or none does.
* Staging folders left by a killed run (their process is gone) are removed the next time
  medsr writes into that folder; SIGTERM is turned into a clean abort by the CLI.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with Staging() as stage:
    ...     _ = stage.path_for(folder / "a.txt").write_text("done")
    >>> (folder / "a.txt").read_text(), sorted(p.name for p in folder.iterdir())
    ('done', ['a.txt'])
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType

from medsr.errors import OutputError

logger = logging.getLogger(__name__)

TMP_MARK = ".medsr-tmp-"
_INPUTS: dict[str, tuple[int, int] | None] = {}  # resolved path -> (st_dev, st_ino)


# -- inputs -----------------------------------------------------------------------------------
def register_inputs(paths: Iterable[str | Path]) -> None:
    """Remember files (or folders) as inputs of this process: no output may replace them."""
    for p in paths:
        if not p:
            continue
        real = Path(p).resolve()
        try:
            st = real.stat()
            _INPUTS[str(real)] = (st.st_dev, st.st_ino)
        except OSError:
            _INPUTS[str(real)] = None


def registered_inputs() -> list[Path]:
    """The inputs registered so far (resolved paths)."""
    return [Path(p) for p in _INPUTS]


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _same_file(target: Path, ident: tuple[int, int] | None) -> bool:
    if ident is None:
        return False
    try:
        st = target.stat()
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == ident


def check_not_input(out: Path, sources: Iterable[str | Path] = (), source_folder: str | Path | None = None) -> None:
    """Refuse an output that is, links to, contains or lies inside an input.

    ``sources`` and ``source_folder`` are added to the inputs registered in this process.

    Raises:
        OutputError: the output would overwrite or replace part of an input.
    """
    register_inputs([*sources, *([source_folder] if source_folder else [])])
    target = Path(out).absolute().resolve()
    for name, ident in _INPUTS.items():
        src = Path(name)
        if _is_within(src, target) or _same_file(target, ident):
            raise OutputError(
                out,
                f"the output would overwrite the input {src}",
                "choose another output name; inputs are never overwritten",
            )
        if src.is_dir() and _is_within(target, src):
            raise OutputError(out, f"the output lies inside the input folder {src}", "write to a different folder")


# -- destinations -----------------------------------------------------------------------------
def _medsr_sidecar(path: Path) -> bool:
    from medsr.io.sidecar import sidecar_path

    side = sidecar_path(path)
    try:
        if side.stat().st_size > 16 << 20:
            return False
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and isinstance(data.get("software"), dict) and "medsr" in data["software"]


def _medsr_dicom_folder(folder: Path) -> bool:
    files = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if not files or any(not p.is_file() or p.is_symlink() for p in files):
        return False
    try:
        import pydicom

        ds = pydicom.dcmread(files[0], stop_before_pixels=True, specific_tags=["ImplementationVersionName"])
    except Exception:  # noqa: BLE001 - anything unreadable is not medsr's
        return False
    return str(getattr(ds.file_meta, "ImplementationVersionName", "")) == "MEDSR"


def written_by_medsr(path: Path) -> bool:
    """True when ``path`` is an output medsr wrote: a medsr sidecar beside it, or a folder of the
    DICOM files of a medsr derived series."""
    if _medsr_sidecar(path):
        return True
    return path.is_dir() and not path.is_symlink() and _medsr_dicom_folder(path)


def check_destination(out: Path, *, overwrite: bool, is_dir: bool = False) -> None:
    """Refuse a missing parent folder, or an existing output unless ``overwrite``.

    With ``overwrite``, a file is replaced; a folder only when :func:`written_by_medsr`.

    Raises:
        OutputError: the parent folder is missing, or the output exists and may not be replaced.
    """
    parent = out.parent
    if not parent.is_dir():
        raise OutputError(out, f"folder {parent} does not exist", "create it first")
    if not (out.exists() or out.is_symlink()):
        return
    if not overwrite:
        raise OutputError(out, "the output exists already", "choose another name or pass --overwrite (overwrite=True)")
    if out.is_dir() and not is_dir:
        raise OutputError(out, "a folder with this name exists and the output is a file", "choose another output name")
    if is_dir and not out.is_dir():
        raise OutputError(out, "a file with this name exists and the output is a folder", "choose another output name")
    if is_dir and any(p.is_dir() for p in out.iterdir()):
        raise OutputError(
            out,
            "the existing folder holds sub-folders; medsr only replaces a folder of files it wrote",
            "choose another output folder",
        )
    if is_dir and not written_by_medsr(out):
        raise OutputError(
            out,
            "the existing folder was not written by medsr (no medsr sidecar, no medsr DICOM files); "
            "--overwrite never deletes a foreign folder",
            "choose another output folder, or remove it yourself",
        )


def check_output(out: str | Path, *, overwrite: bool, is_dir: bool = False) -> Path:
    """Both checks for one output: not an input, and a destination that may be (re)placed."""
    path = Path(out).expanduser().absolute()
    check_not_input(path)
    check_destination(path, overwrite=overwrite, is_dir=is_dir)
    return path


def check_outputs(outs: Iterable[tuple[str | Path, bool]], *, overwrite: bool) -> None:
    """:func:`check_output` for every ``(path, is_dir)`` of a run, before any work starts."""
    for path, is_dir in outs:
        check_output(path, overwrite=overwrite, is_dir=is_dir)


# -- staging ----------------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def clean_stale(folder: Path) -> int:
    """Remove staging folders in ``folder`` whose process has ended; returns how many."""
    removed = 0
    try:
        entries = [e for e in os.scandir(folder) if TMP_MARK in e.name]
    except OSError:
        return 0
    for entry in entries:
        tail = entry.name.split(TMP_MARK, 1)[1]
        pid = tail.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
    if removed:
        logger.info("removed %d stale staging folder(s) in %s", removed, folder)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _umask_mode(entry: Path, tmpdir: Path) -> None:
    """Give a staged file written owner-only by its library (safetensors writes 0600) the mode
    a plain ``open`` would have given it under the process umask, so outputs are shared as usual."""
    if entry.is_symlink() or not entry.is_file() or entry.stat().st_mode & 0o077:
        return
    probe = tmpdir / f"{TMP_MARK}mode"
    probe.touch()
    mode = probe.stat().st_mode & 0o777
    probe.unlink()
    os.chmod(entry, mode)


class Staging:
    """A transaction of outputs written beside their destinations and moved in together.

    ``path_for(final)`` checks ``final`` (:func:`check_output`) and returns where to write it
    (a file or a folder); files that the writer puts next to it (e.g. the ``.raw`` of an
    ``.mhd``) are moved in as well. Leaving the ``with`` block normally commits; an exception
    aborts and cleans up.
    """

    def __init__(self, overwrite: bool = False) -> None:
        self.overwrite = overwrite
        self._tmpdirs: list[tuple[Path, Path]] = []  # (temporary folder, destination folder)

    def path_for(self, final: str | Path, *, is_dir: bool = False, checked: bool = False) -> Path:
        """Where to write ``final``; ``checked=True`` when the caller already ran the guard."""
        final = Path(final).expanduser().absolute()
        if not checked:
            check_output(final, overwrite=self.overwrite, is_dir=is_dir)
        clean_stale(final.parent)
        tmpdir = final.parent / f".{final.name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
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
                    _umask_mode(entry, tmpdir)
                    done.append(self._move_in(entry, dest_dir / entry.name, tmpdir))
        except (OSError, OutputError) as exc:
            self._rollback(done)
            self.abort()
            if isinstance(exc, OutputError):
                raise
            raise OutputError(
                self._tmpdirs[0][1] if self._tmpdirs else None,
                f"could not move the output into place ({exc})",
                "check free space and permissions of the output folder",
            ) from None
        self.abort()  # removes the now empty temporary folders and any replaced backups

    def _claim(self, entry: Path, dest: Path) -> None:
        """Move ``entry`` to a ``dest`` that must not exist: link-or-fail / exclusive mkdir."""
        try:
            if entry.is_dir():
                os.mkdir(dest)  # the reservation; an existing name fails here
                os.replace(entry, dest)  # a folder replaces an empty folder in one step
            else:
                os.link(entry, dest)  # fails when another run created dest meanwhile
                entry.unlink()
        except FileExistsError:
            raise OutputError(
                dest, "the output appeared while medsr was writing it (another run?)", "choose another output name"
            ) from None
        except OSError as exc:
            if entry.is_dir() or exc.errno not in (1, 18, 38, 95):  # EPERM, EXDEV, ENOSYS, EOPNOTSUPP
                raise
            fd = os.open(dest, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)  # no hard links here
            os.close(fd)
            os.replace(entry, dest)

    def _move_in(self, entry: Path, dest: Path, tmpdir: Path) -> tuple[Path, Path | None]:
        if not (dest.exists() or dest.is_symlink()):
            self._claim(entry, dest)
            return dest, None
        if not self.overwrite:
            raise OutputError(dest, "the output exists already", "choose another name or pass --overwrite")
        backup = tmpdir / f"{TMP_MARK}old-{dest.name}"
        if dest.is_dir() and not dest.is_symlink():
            os.replace(dest, backup)  # a folder cannot be replaced in one step
        else:
            try:
                os.link(dest, backup, follow_symlinks=False)  # kept for a rollback; dest is replaced atomically
            except OSError:
                shutil.copy2(dest, backup, follow_symlinks=False)
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


def atomic_write(path: str | Path, payload: bytes | str | Callable[[Path], object], *, overwrite: bool = False) -> Path:
    """Write one file atomically through the guard: text, bytes, or a function that writes the
    staged path (``lambda tmp: save_file(tensors, str(tmp))``). Returns the absolute path.

    Raises:
        OutputError: the guard refuses the path, or the write failed (nothing is left behind).
    """
    try:
        with Staging(overwrite=overwrite) as stage:
            tmp = stage.path_for(path)
            if isinstance(payload, str):
                tmp.write_text(payload, encoding="utf-8")
            elif isinstance(payload, bytes):
                tmp.write_bytes(payload)
            else:
                payload(tmp)
    except OSError as exc:
        raise OutputError(path, f"cannot write ({exc.strerror or exc})", "check that the folder is writable") from None
    return Path(path).expanduser().absolute()
