"""The one batch planner of the verbs that process scans one by one (``enhance``, ``predict``).

As nnU-Net's ``predict_from_raw_data`` does it, planning lives in the library and the CLI is a
thin wrapper: :func:`plan_batch` finds the scans, names their outputs, shards them
(``num_parts``/``part_id``, e.g. one part per SLURM array task), skips the finished ones
(``resume``) and checks every output of every remaining scan before any work starts;
:func:`run_batch` runs them, carrying on past a failed scan and counting the outcome.

What a scan is:

* a file medsr reads (suffix from :data:`medsr.io.formats.READ_SUFFIXES`, or DICOM by content,
  preamble-less files included);
* a folder of DICOM files (recognised by content with :func:`medsr.io.dicom_scan.dicom_kind`)
  is one scan, a series;
* any other folder is a batch: each scan file in it and each sub-folder of DICOM files.

A scan is done when every one of its outputs exists. Each scan's outputs are written as one
atomic unit with the sidecar moved in last (:mod:`medsr.io.atomic`), so the rule is one.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("b.nii.gz", "a.nrrd", "notes.txt"):
    ...     _ = (folder / name).write_bytes(b"")
    >>> [p.name for p in find_scans(folder)]
    ['a.nrrd', 'b.nii.gz']
    >>> plan = plan_batch(folder, pathlib.Path(tempfile.mkdtemp()) / "sr", num_parts=2, part_id=1)
    >>> [(j.source.name, j.output.name) for j in plan.jobs], plan.batch
    ([('b.nii.gz', 'b.nii.gz')], True)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medsr.errors import ConfigError, MedsrError, OutputError, ReadError

log = logging.getLogger(__name__)

#: output suffix of each input format when the verb names none ("" is a DICOM series folder)
SAME_FORMAT: dict[str, str] = {
    "nifti": ".nii.gz", "nrrd": ".nrrd", "mha": ".mha", "png": ".png", "tiff": ".tif", "jpeg": ".png",
    "dicom": ".nii.gz", "dicom-series": "",
}  # fmt: skip
#: suffix of each ``--format`` choice
FORMAT_SUFFIX: dict[str, str] = {
    "nifti": ".nii.gz", "nrrd": ".nrrd", "mha": ".mha", "png": ".png", "tiff": ".tif", "dicom": "",
}  # fmt: skip
_SNIFF = 50  # files of a folder looked at to decide whether it is a DICOM series


@dataclass(frozen=True)
class Job:
    """One scan to process: where it is and where its (main) output goes."""

    source: Path
    output: Path


@dataclass
class BatchPlan:
    """What a run will do: this part's ``jobs`` to run and those ``skipped`` as done."""

    jobs: list[Job]
    skipped: list[Job] = field(default_factory=list)
    batch: bool = False  # the output is a folder of outputs
    total: int = 0  # scans in all parts
    part: tuple[int, int] = (0, 1)


@dataclass
class BatchSummary:
    """Per-scan rows (``input``, ``output``, ``status``) and the counts."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    done: int = 0
    skipped: int = 0
    failed: int = 0

    @property
    def exit_code(self) -> int:
        """0 when no scan failed, else 2."""
        return 2 if self.failed else 0

    def line(self, plan: BatchPlan) -> str:
        k, n = plan.part
        return (
            f"{self.done} written, {self.skipped} skipped, {self.failed} failed "
            f"(part {k + 1} of {n}: {len(plan.jobs) + len(plan.skipped)} of {plan.total} scan(s))"
        )


def scan_format(path: Path) -> str | None:
    """The read format of a scan (``"dicom-series"`` for a DICOM folder), or None."""
    from medsr.io.dicom_scan import dicom_kind
    from medsr.io.formats import suffix_format

    if path.is_dir():
        return "dicom-series" if is_dicom_folder(path) else None
    if path.name.startswith(".") or path.name.lower().endswith(".json"):
        return None
    return suffix_format(path) or ("dicom" if dicom_kind(path) else None)


def _dicom_files(path: Path) -> tuple[list[Path], list[Path]]:
    """(DICOM files, other scan files) among the first visible files of ``path``."""
    from medsr.io.dicom_scan import dicom_kind
    from medsr.io.formats import suffix_format

    try:
        files = [p for p in sorted(path.iterdir()) if p.is_file() and not p.name.startswith(".")][:_SNIFF]
    except OSError:
        return [], []
    dicom = [p for p in files if dicom_kind(p)]
    others = [p for p in files if p not in dicom and suffix_format(p) not in (None, "dicom")]
    return dicom, others


def is_dicom_folder(path: Path) -> bool:
    """A folder of DICOM files (by content) with no other scans and no sub-folder of DICOM files
    (that makes it a batch of series)."""
    dicom, others = _dicom_files(path)
    if not dicom or others:
        return False
    subs = [p for p in sorted(path.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    return not any(_dicom_files(s)[0] for s in subs[:_SNIFF])


def find_scans(source: Path) -> list[Path]:
    """The scans of ``source``: itself (a file or a DICOM folder), else those in the folder."""
    if not source.exists():
        raise ReadError(source, "no such file or folder", "check the path")
    if source.is_file() or is_dicom_folder(source):
        return [source]
    scans = [p for p in sorted(source.iterdir()) if scan_format(p) is not None]
    if not scans:
        from medsr.io.formats import SUPPORTED_READ

        raise ReadError(source, "the folder holds no images and no DICOM series", f"put scans in it ({SUPPORTED_READ})")
    return scans


def stem(path: Path) -> str:
    """The name without its image suffix (``scan.nii.gz`` → ``scan``)."""
    from medsr.io.formats import READ_SUFFIXES, suffix_of

    suffix = suffix_of(path, READ_SUFFIXES)
    return path.name[: len(path.name) - len(suffix)] if suffix else path.name


def output_name(source: Path, fmt: str | None, suffixes: Mapping[str, str] = SAME_FORMAT) -> str:
    """``stem(source)`` + the suffix of ``fmt``, or of the input's format by ``suffixes``."""
    suffix = FORMAT_SUFFIX[fmt] if fmt else suffixes.get(scan_format(source) or "", ".nii.gz")
    return stem(source) + suffix


def companion(output: Path, tag: str) -> Path:
    """``out.nii.gz`` → ``out_<tag>.nii.gz``; a DICOM folder ``out`` → ``out_<tag>.nii.gz``.

    Example:
        >>> companion(Path("sr.nii.gz"), "uncertainty").name, companion(Path("series"), "uncertainty").name
        ('sr_uncertainty.nii.gz', 'series_uncertainty.nii.gz')
    """
    from medsr.io.formats import WRITE_SUFFIXES, suffix_of

    suffix = suffix_of(output, WRITE_SUFFIXES)
    if suffix:
        return output.with_name(output.name[: -len(suffix)] + f"_{tag}" + suffix)
    return output.with_name(output.name + f"_{tag}.nii.gz")


def _single_output(source: Path, output: Path, into_folder: bool, fmt: str | None, suffixes: Mapping[str, str]) -> Path:
    from medsr.io.formats import WRITE_SUFFIXES, suffix_of

    if suffix_of(output, WRITE_SUFFIXES) is not None or not into_folder:
        return output
    return output / output_name(source, fmt, suffixes)


def plan_batch(
    source: str | Path,
    output: str | Path,
    *,
    fmt: str | None = None,
    suffixes: Mapping[str, str] = SAME_FORMAT,
    single_into_folder: bool = False,
    outputs_of: Callable[[Job], list[tuple[Path, bool]]] | None = None,
    overwrite: bool = False,
    resume: bool = False,
    num_parts: int = 1,
    part_id: int = 0,
    create: bool = True,
) -> BatchPlan:
    """Plan a run over one scan or a folder of scans (see the module docstring).

    Args:
        source: a scan or a folder of scans.
        output: the output (one scan) or the output folder (a batch; created when ``create``).
        fmt: the output format (a ``--format`` choice); default by ``suffixes``.
        single_into_folder: one scan and an ``output`` without image suffix: write into that
            folder (``predict``) rather than to it as a DICOM series (``enhance``).
        outputs_of: every ``(path, is_folder)`` a job writes, its sidecar last; default the
            output and its sidecar.
        overwrite, resume: replace existing outputs / skip scans whose outputs all exist.
        num_parts, part_id: keep scans ``part_id, part_id + num_parts, …`` (sorted by name).

    Raises:
        ConfigError: a bad part, or ``overwrite`` with ``resume``.
        ReadError: no scan found.
        OutputError: an output that exists (without ``overwrite``/``resume``) or is an input.
    """
    from medsr.io.atomic import check_not_input, check_outputs, register_inputs

    if num_parts < 1 or not 0 <= part_id < num_parts:
        raise ConfigError(None, f"--part-id {part_id} is not within --num-parts {num_parts}", "use 0 <= K < N")
    src, out = Path(source).expanduser(), Path(output).expanduser()
    scans = find_scans(src)
    batch = not (len(scans) == 1 and scans[0] == src)
    register_inputs(scans)
    if batch:
        if out.exists() and not out.is_dir():
            raise OutputError(out, "a batch needs an output folder but this is a file", "give a folder name")
        check_not_input(out)
        jobs = [Job(p, out / output_name(p, fmt, suffixes)) for p in scans]
    else:
        jobs = [Job(src, _single_output(src, out, single_into_folder, fmt, suffixes))]
    total = len(jobs)
    jobs = jobs[part_id::num_parts]
    outs = outputs_of or _default_outputs
    if create and jobs and not jobs[0].output.parent.exists() and (batch or single_into_folder):
        folder = jobs[0].output.parent
        check_not_input(folder)
        if not folder.parent.is_dir():
            raise OutputError(folder, f"folder {folder.parent} does not exist", "create it first")
        folder.mkdir(exist_ok=True)
    todo, skipped = [], []
    for job in jobs:
        paths = outs(job)
        if resume and all(p.exists() for p, _ in paths):
            skipped.append(job)
            continue
        check_outputs(paths, overwrite=overwrite)  # before any work
        todo.append(job)
    return BatchPlan(todo, skipped, batch, total, (part_id, num_parts))


def _default_outputs(job: Job) -> list[tuple[Path, bool]]:
    from medsr.io.formats import output_format
    from medsr.io.sidecar import sidecar_path

    return [(job.output, output_format(job.output) == "dicom"), (sidecar_path(job.output), False)]


def run_batch(plan: BatchPlan, fn: Callable[[Job], dict[str, Any]]) -> BatchSummary:
    """Run ``fn`` on every job; a failed scan is logged and counted, the others go on.

    A single scan's error is raised as it is (the CLI prints it and exits with code 2).
    """
    summary = BatchSummary(done=0, skipped=len(plan.skipped))
    for job in plan.skipped:
        summary.rows.append({"input": job.source.name, "output": str(job.output), "status": "skipped (done)"})
    for job in plan.jobs:
        try:
            row = fn(job)
        except MedsrError as err:
            if not plan.batch:
                raise
            summary.failed += 1
            summary.rows.append({"input": job.source.name, "output": str(job.output), "status": f"failed: {err}"})
            log.error("%s", err)
            continue
        summary.done += 1
        summary.rows.append({"input": job.source.name, "output": str(job.output), "status": "done", **row})
    return summary
