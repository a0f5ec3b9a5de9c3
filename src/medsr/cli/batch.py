"""Folder-in/folder-out for the verbs that process scans one by one (enhance, predict).

A folder that holds DICOM files is one scan (a series). Any other folder is a batch: each image
file and each sub-folder of DICOM files in it is a scan. Outputs keep the input's name with the
output format's suffix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medsr.errors import OutputError, ReadError

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm", ".png", ".tif", ".tiff", ".jpg", ".jpeg")
FORMAT_SUFFIX = {"nifti": ".nii.gz", "nrrd": ".nrrd", "mha": ".mha", "png": ".png", "tiff": ".tif", "dicom": ""}


@dataclass(frozen=True)
class Job:
    """One scan to process: where it is, where its output goes."""

    source: Path
    output: Path


def is_dicom_file(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def is_dicom_folder(path: Path) -> bool:
    return path.is_dir() and any(is_dicom_file(p) for p in sorted(path.iterdir())[:50] if p.is_file())


def stem(path: Path) -> str:
    name = path.name
    for suffix in IMAGE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def output_name(source: Path, fmt: str | None) -> str:
    """``scan.nii.gz`` → ``scan.nii.gz`` (or with the suffix of ``fmt``); a DICOM series keeps its
    folder name (DICOM out) or gets ``.nii.gz`` when another format is asked for."""
    dicom_in = source.is_dir() or source.suffix.lower() == ".dcm"
    if fmt is None:
        if dicom_in:
            return source.name if source.is_dir() else stem(source) + ".nii.gz"
        return source.name
    return stem(source) + FORMAT_SUFFIX[fmt]


def plan_jobs(source: Path, output: Path, fmt: str | None) -> list[Job]:
    """One job for a scan, or one per scan of a batch folder (output then is a folder)."""
    if not source.exists() and not source.is_symlink():
        raise ReadError(source, "no such file or folder", "check the path")
    if not source.is_dir() or is_dicom_folder(source):
        return [Job(source, output)]
    scans = [
        p
        for p in sorted(source.iterdir())
        if (p.is_file() and p.name.lower().endswith(IMAGE_SUFFIXES)) or is_dicom_folder(p)
    ]
    if not scans:
        raise ReadError(
            source,
            "the folder holds no images and no DICOM series",
            f"put image files ({', '.join(IMAGE_SUFFIXES)}) or DICOM series folders in it",
        )
    if output.exists() and not output.is_dir():
        raise OutputError(output, "a batch needs an output folder but this is a file", "give a folder name")
    return [Job(p, output / output_name(p, fmt)) for p in scans]


def shard(jobs: list[Job], num_parts: int, part_id: int) -> list[Job]:
    """Jobs ``part_id, part_id + num_parts, …`` (so parallel workers split a batch)."""
    if num_parts < 1 or not 0 <= part_id < num_parts:
        from medsr.errors import ConfigError

        raise ConfigError(None, f"--part-id {part_id} is not in 0..{num_parts - 1}", "use 0 <= part-id < num-parts")
    return jobs[part_id::num_parts]


def is_done(outputs: list[Path]) -> bool:
    """A scan is finished when every one of its outputs exists; the last one (its sidecar) is
    moved in last, so its presence means the whole unit was committed."""
    return all(p.exists() for p in outputs)


def companion(output: Path, tag: str) -> Path:
    """``out.nii.gz`` → ``out_<tag>.nii.gz``; a DICOM folder ``out`` → ``out_<tag>.nii.gz``."""
    name = output.name
    for suffix in IMAGE_SUFFIXES:
        if name.lower().endswith(suffix) and suffix != ".dcm":
            return output.with_name(name[: -len(suffix)] + f"_{tag}" + suffix)
    return output.with_name(name + f"_{tag}.nii.gz")
