"""``medsr upsample IN OUT --factors ... | --spacing ...``: classical resampling in world coordinates."""

from __future__ import annotations

import argparse

from medsr.cli.common import (
    add_factors,
    add_input,
    add_output,
    check_output_first,
    factors3,
    parse_series,
    say,
    sidecar_base,
    spacing3,
)
from medsr.errors import ConfigError

HELP = "classical upsampling (interpolation, shape, registration, non-local) and label maps"
DESCRIPTION = """Resample onto a finer grid that keeps the field of view, in world coordinates:
the baselines every super-resolution result is compared against.

methods:
  nearest, linear, bspline (cubic B-spline), lanczos    interpolation
  shape          grey-level shape-based interpolation (Grevera and Udupa, IEEE TMI 1996)
  registration   slice interpolation along optical-flow registration (Penney 2004, Leng 2013)
  nlm            non-local upsampling with re-degradation constraint (Manjon, MedIA 2010)
--labels upsamples an integer label map by per-label shape-based interpolation: no label
mixing, no new values, acquired slices kept exactly.

examples:
  medsr upsample lr.nii.gz up.nii.gz --factors 1 1 4 --method bspline
  medsr upsample lr.nii.gz up.nii.gz --factors 1 1 4 --method nlm
  medsr upsample seg.nii.gz seg_up.nii.gz --factors 1 1 5 --labels"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input(p)
    add_output(p)
    add_factors(p)
    p.add_argument(
        "--spacing",
        nargs="+",
        type=float,
        metavar="MM",
        default=None,
        help="target spacing SX SY [SZ] in mm (instead of --factors)",
    )
    p.add_argument(
        "--method",
        choices=("nearest", "linear", "bspline", "lanczos", "shape", "registration", "nlm"),
        default="bspline",
        help="method (default bspline: cubic B-spline); see the list above",
    )
    p.add_argument(
        "--labels",
        action="store_true",
        help="IN is an integer label map: per-label shape-based interpolation, written with its integer type",
    )


def run(args: argparse.Namespace) -> int:
    from medsr.baselines import upsample
    from medsr.cli.common import Progress
    from medsr.io import read, write

    if (args.factors is None) == (args.spacing is None):
        raise ConfigError(None, "give exactly one of --factors and --spacing", "e.g. --factors 1 1 4")
    check_output_first(args)
    img = read(args.input, series=parse_series(args.series), check=not args.allow_nan)
    method = "labels" if args.labels else args.method
    with Progress(args.quiet, desc=method) as bar:
        up = upsample(
            img,
            factors=factors3(args.factors),
            spacing=spacing3(args.spacing),
            method=args.method,
            labels=args.labels,
            progress=bar.callback,
        )
    path = write(
        up,
        args.output,
        allow_nan=args.allow_nan,
        dtype="input" if args.labels and args.dtype == "float32" else args.dtype,
        overwrite=args.overwrite,
        format=args.format,
        sidecar=sidecar_base(
            "upsample", args, input=str(args.input), method=method, factors=args.factors, spacing=args.spacing
        ),
    )
    say(
        args,
        f"wrote {path}: {up.shape[0]}×{up.shape[1]}×{up.shape[2]} voxels at "
        f"{' × '.join(f'{s:.4g}' for s in up.spacing)} mm ({method})",
    )
    return 0
