"""Pieces shared by the verbs: standard flags, factor parsing, progress bars, printing."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from medsr.errors import ConfigError


def add_input(p: argparse.ArgumentParser, name: str = "input", help_text: str | None = None) -> None:
    p.add_argument(
        name,
        metavar=name.upper().replace("_", "-"),
        help=help_text or "image file (NIfTI, NRRD, MHA, DICOM, PNG/TIFF/JPEG) or DICOM folder",
    )
    p.add_argument(
        "--series",
        metavar="UID|INDEX",
        default=None,
        help="which series of a DICOM folder to read (UID or 0-based index; 'medsr info DIR' lists them)",
    )


def add_output(p: argparse.ArgumentParser, name: str = "output", dtype: bool = True) -> None:
    p.add_argument(
        name,
        metavar=name.upper(),
        help="output file (.nii.gz, .nrrd, .mha, .png, .tif) or a folder name for a DICOM series",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output (never an input)")
    p.add_argument(
        "--allow-nan",
        action="store_true",
        help="accept NaN/Inf that the input holds and write them through (refused by default)",
    )
    p.add_argument(
        "--format",
        choices=("nifti", "nrrd", "mha", "png", "tiff", "dicom"),
        default=None,
        help="output format when the suffix does not say (default: from the suffix)",
    )
    if dtype:
        p.add_argument(
            "--dtype",
            choices=("float32", "input", "uint8", "uint16", "int16"),
            default="float32",
            help="output voxel type; 'input' rounds and clips to the input's type (default float32)",
        )


def check_output_first(args: argparse.Namespace, name: str = "output") -> None:
    """The one output guard on ``args.<name>`` (and its sidecar) before any reading or work."""
    from medsr.io.atomic import check_outputs, register_inputs
    from medsr.io.formats import output_format
    from medsr.io.sidecar import sidecar_path

    out = Path(getattr(args, name)).expanduser()
    register_inputs([args.input])
    is_dir = output_format(out, getattr(args, "format", None)) == "dicom"
    check_outputs([(out, is_dir), (sidecar_path(out), False)], overwrite=args.overwrite)


def add_factors(
    p: argparse.ArgumentParser | argparse._ArgumentGroup, required: bool = False, what: str = "upsampling"
) -> None:
    p.add_argument(
        "--factors",
        nargs="+",
        type=float,
        metavar="F",
        required=required,
        help=f"per-axis {what} factors FX FY [FZ]; non-integer allowed (e.g. 1 1 4)",
    )


def add_batch_flags(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """--continue, --overwrite, --num-parts and --part-id: the planner's options (medsr.batch)."""
    p.add_argument(
        "--continue", dest="resume", action="store_true", help="skip scans whose outputs all exist (finished)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (never an input)")
    p.add_argument("--num-parts", type=int, default=1, metavar="N", help="split a folder of scans into N parts")
    p.add_argument("--part-id", type=int, default=0, metavar="K", help="process part K (0 … N-1) of them")


def parse_series(value: str | None) -> str | int | None:
    if value is None:
        return None
    return int(value) if value.isdigit() else value


def _three(values: Sequence[float] | None, flag: str, what: str) -> tuple[float, float, float] | None:
    """X Y [Z] → three floats (Z = 1 when two are given: a 2D image)."""
    if values is None:
        return None
    vals = [float(v) for v in values]
    if len(vals) == 2:
        vals.append(1.0)
    if len(vals) != 3:
        raise ConfigError(
            None,
            f"{flag} needs 2 or 3 values, got {len(vals)} ({vals})",
            f"give {what} for X Y (2D images) or X Y Z (volumes)",
        )
    return vals[0], vals[1], vals[2]


def factors3(values: Sequence[float] | None) -> tuple[float, float, float] | None:
    """FX FY [FZ] → three factors."""
    return _three(values, "--factors", "one factor")


def spacing3(values: Sequence[float] | None) -> tuple[float, float, float] | None:
    """SX SY [SZ] (mm) → three spacings."""
    return _three(values, "--spacing", "one spacing in mm")


def command_line() -> str:
    return " ".join(["medsr", *sys.argv[1:]])


def sidecar_base(verb: str, args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    """What every sidecar records about the command that made the output."""
    return {"command": verb, "command_line": command_line(), **extra}


class Progress:
    """A tqdm bar on stderr that appears only after 2 s and never with ``--quiet``.

    ``callback(done, total)`` fits the library's progress hooks; ``stage(name, done, total)``
    fits multi-stage hooks (a new bar per stage).
    """

    def __init__(self, quiet: bool, desc: str = "") -> None:
        self.quiet = quiet
        self.desc = desc
        self._bar: Any = None
        self._stage: str | None = None

    def _new(self, desc: str, total: int) -> None:
        from tqdm.auto import tqdm

        self.close()
        self._bar = tqdm(
            total=total,
            desc=desc,
            delay=2.0,
            disable=True if self.quiet else None,
            file=sys.stderr,
            leave=False,
            dynamic_ncols=True,
            unit="it",
        )

    def callback(self, done: int, total: int) -> None:
        if self._bar is None or self._bar.total != total:
            self._new(self.desc, total)
        self._bar.n = done
        self._bar.refresh()

    def stage(self, name: str, done: int, total: int) -> None:
        if name != self._stage:
            self._stage = name
            self._new(f"{self.desc} {name}".strip(), total)
        self.callback(done, total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def timed(log: Callable[[str], None], what: str) -> Iterator[None]:
    t = time.perf_counter()
    yield
    log(f"{what} took {time.perf_counter() - t:.1f} s")


def say(args: argparse.Namespace, text: str) -> None:
    """Print a result line on stdout unless --quiet."""
    if not getattr(args, "quiet", False):
        print(text)


def print_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """A plain aligned text table on stdout."""
    cells = [[str(c) for c in columns]] + [[_fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for n, row in enumerate(cells):
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=False)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"
    return str(v)


def write_text(path: str | Path, text: str, overwrite: bool = False) -> None:
    """Atomic text write through the one output guard (:func:`medsr.io.atomic.atomic_write`)."""
    from medsr.io.atomic import atomic_write

    atomic_write(path, text, overwrite=overwrite)


def write_json(path: str | Path, payload: Any, overwrite: bool = False) -> None:
    write_text(path, json.dumps(payload, indent=2, default=str), overwrite)
