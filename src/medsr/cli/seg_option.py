"""``--labels SEG`` of ``enhance`` and ``predict``: the scan's segmentation carried onto the SR grid.

The label map must lie on the input's grid. It is written beside the output as
``OUT_labels.<ext>`` (a DICOM output gets ``OUT_labels.nii.gz``) in its own integer type, by
per-label shape-based interpolation (:func:`medsr.classical.labels.upsample_labels`), with a
sidecar, in the same transaction as the output.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from medsr.errors import ConfigError, GeometryError
from medsr.image import Image


def add_labels_flag(p: Any) -> None:
    p.add_argument(
        "--labels",
        metavar="SEG",
        default=None,
        help="a label map on IN's grid: also write it on the output grid as OUT_labels "
        "(per-label shape-based interpolation; one scan only)",
    )


def labels_output(output: Path) -> Path:
    from medsr.batch import companion

    return companion(output, "labels")


def check_labels_flag(args: argparse.Namespace) -> None:
    """One scan only, and the label map counts as an input (never overwritten)."""
    if not getattr(args, "labels", None):
        return
    from medsr.batch import is_dicom_folder
    from medsr.io.atomic import register_inputs

    src = Path(args.input)
    if src.is_dir() and not is_dicom_folder(src):
        raise ConfigError(args.labels, "--labels goes with one scan, not a folder of scans", "run one scan at a time")
    if not Path(args.labels).exists():
        raise ConfigError(args.labels, "the label map does not exist", "give the path of a segmentation of IN")
    register_inputs([args.labels])


def labels_outputs(output: Path, args: argparse.Namespace) -> list[tuple[Path, bool]]:
    from medsr.io.sidecar import sidecar_path

    if not getattr(args, "labels", None):
        return []
    path = labels_output(output)
    return [(path, False), (sidecar_path(path), False)]


def read_labels(args: argparse.Namespace, scan: Image) -> Image | None:
    """The label map, checked against the scan's grid (before any expensive work)."""
    if not getattr(args, "labels", None):
        return None
    from medsr.classical.labels import check_labels
    from medsr.io import read
    from medsr.metrics import same_grid

    seg = read(args.labels)
    if not same_grid(seg, scan):
        raise GeometryError(
            args.labels,
            f"the label map's grid ({'×'.join(map(str, seg.shape))} at "
            f"{' × '.join(f'{s:.4g}' for s in seg.spacing)} mm) is not the scan's "
            f"({'×'.join(map(str, scan.shape))} at {' × '.join(f'{s:.4g}' for s in scan.spacing)} mm)",
            "pass the segmentation drawn on this scan (same size, spacing, origin and direction)",
        )
    check_labels(seg)
    return seg


def write_labels(verb: str, seg: Image, sr: Image, output: Path, args: argparse.Namespace, stage: Any = None) -> Path:
    """``seg`` on ``sr``'s grid, written as ``OUT_labels`` in its own integer type."""
    from medsr.classical.labels import upsample_labels
    from medsr.cli.common import sidecar_base
    from medsr.io import write

    up = upsample_labels(seg, sr.grid)
    path = labels_output(output)
    side = sidecar_base(verb, args, labels_of=str(output))
    side.update(input=str(args.labels), method="per-label shape-based interpolation")
    return write(up, path, dtype="input", overwrite=args.overwrite, sidecar=side, stage=stage)
