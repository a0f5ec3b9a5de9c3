"""``medsr info FILE|DIR``: shape, spacing, thickness, orientation, modality, value range, series."""

from __future__ import annotations

import argparse
import json

from medsr.cli.common import add_input, parse_series, print_table

HELP = "describe an image or a DICOM folder (geometry, modality, values, series)"
DESCRIPTION = """Describe an image file or a DICOM folder without changing it.

examples:
  medsr info scan.nii.gz
  medsr info dicom_folder/            # lists every series in the folder
  medsr info dicom_folder/ --series 1 --json"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input(p)
    p.add_argument("--json", action="store_true", help="print the description as JSON")


def _fmt_vec(v: object) -> str:
    try:
        return " × ".join(f"{float(x):.4g}" for x in v)  # type: ignore[attr-defined]
    except TypeError:
        return str(v)


def run(args: argparse.Namespace) -> int:
    from medsr.io import describe

    info = describe(args.input, series=parse_series(args.series))
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    series = info.pop("series", None)
    for key, value in info.items():
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], (int, float)):
            value = _fmt_vec(value)
        print(f"{key:>18}: {value}")
    if series:
        print(f"\n{len(series)} series in the folder:")
        print_table(
            series,
            [c for c in ("index", "uid", "description", "modality", "n_files", "rows", "columns") if c in series[0]],
        )
    return 0
