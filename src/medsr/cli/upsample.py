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

HELP = "classical interpolation (nearest, linear, B-spline, Lanczos) onto a finer grid"
DESCRIPTION = """Resample onto a finer grid that keeps the field of view, in world coordinates:
the baseline every super-resolution result is compared against.

examples:
  medsr upsample lr.nii.gz up.nii.gz --factors 1 1 4 --method bspline
  medsr upsample lr.nii.gz up.nii.gz --spacing 1 1 1 --method lanczos"""


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
        choices=("nearest", "linear", "bspline", "lanczos"),
        default="bspline",
        help="interpolator (default bspline: cubic B-spline)",
    )


def run(args: argparse.Namespace) -> int:
    from medsr.baselines import upsample
    from medsr.io import read, write

    if (args.factors is None) == (args.spacing is None):
        raise ConfigError(None, "give exactly one of --factors and --spacing", "e.g. --factors 1 1 4")
    check_output_first(args)
    img = read(args.input, series=parse_series(args.series), check=not args.allow_nan)
    up = upsample(img, factors=factors3(args.factors), spacing=spacing3(args.spacing), method=args.method)
    path = write(
        up,
        args.output,
        allow_nan=args.allow_nan,
        dtype=args.dtype,
        overwrite=args.overwrite,
        format=args.format,
        sidecar=sidecar_base(
            "upsample", args, input=str(args.input), method=args.method, factors=args.factors, spacing=args.spacing
        ),
    )
    say(
        args,
        f"wrote {path}: {up.shape[0]}×{up.shape[1]}×{up.shape[2]} voxels at "
        f"{' × '.join(f'{s:.4g}' for s in up.spacing)} mm ({args.method})",
    )
    return 0
