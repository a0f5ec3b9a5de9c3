"""``medsr degrade IN OUT --factors ...``: simulate a low-resolution acquisition in physical units."""

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
)
from medsr.errors import ConfigError

HELP = "simulate a low-resolution acquisition (slice profile, gap, blur, k-space, noise)"
DESCRIPTION = """Make the low-resolution image that a scanner with coarser sampling would acquire.
Each LR voxel integrates the HR signal with the slice profile centred on it; the LR grid keeps
the field of view (origin shifted by (f-1)/2 HR voxels). Thickness is independent of spacing,
so gaps (thickness < spacing) and overlaps are possible. The model is recorded in the sidecar.

examples:
  medsr degrade hr.nii.gz lr.nii.gz --factors 1 1 4
  medsr degrade hr.nii.gz lr_gap.nii.gz --factors 1 1 5 --slice-thickness 3
  medsr degrade hr.nii.gz lr.nii.gz --factors 2 2 1 --profile gaussian --noise rician:8"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input(p)
    add_output(p)
    add_factors(p, required=True, what="downsampling (each >= 1)")
    p.add_argument(
        "--slice-thickness",
        type=float,
        default=None,
        metavar="MM",
        help="thickness (mm) of the slices along the last degraded axis; default: its LR spacing",
    )
    p.add_argument(
        "--profile",
        default="rect",
        metavar="rect|gaussian|FILE",
        help="slice profile: rect, gaussian (thickness = FWHM) or a two-column file offset_mm weight",
    )
    p.add_argument(
        "--blur-mm",
        type=float,
        nargs="+",
        default=None,
        metavar="MM",
        help="extra Gaussian PSF FWHM (mm), one value or one per axis, applied before sampling",
    )
    p.add_argument(
        "--kspace",
        choices=("none", "hann", "tukey"),
        default=None,
        help="MRI: truncate k-space instead of integrating slices (with this window)",
    )
    p.add_argument(
        "--noise",
        default=None,
        metavar="KIND:SIGMA",
        help="add noise after sampling: gaussian:SIGMA, rician:SIGMA (MRI magnitude) or "
        "poisson:SIGMA (CT, SIGMA in HU at water); SIGMA in image units",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed for the noise (default 0)")


def parse_noise(spec: str | None) -> dict | None:
    if spec is None:
        return None
    kind, _, value = spec.partition(":")
    try:
        sigma = float(value)
    except ValueError:
        sigma = -1.0
    if kind not in ("gaussian", "rician", "poisson") or sigma < 0:
        raise ConfigError(None, f"--noise {spec!r} is not KIND:SIGMA", "use e.g. gaussian:5 or rician:10")
    return {"kind": kind, "sigma": sigma}


def run(args: argparse.Namespace) -> int:
    from medsr.acquisition import degrade
    from medsr.io import read, write

    check_output_first(args)
    img = read(args.input, series=parse_series(args.series), check=not args.allow_nan)
    factors = factors3(args.factors)
    blur = args.blur_mm[0] if args.blur_mm and len(args.blur_mm) == 1 else args.blur_mm
    lr = degrade(
        img,
        factors if factors is not None else 1.0,
        thickness_mm=args.slice_thickness,
        profile=args.profile,
        blur_mm=blur,
        kspace=None if args.kspace is None else {"window": args.kspace},
        noise=parse_noise(args.noise),
        seed=args.seed,
    )
    model = lr.meta.history[-1] if lr.meta.history else {}
    path = write(
        lr,
        args.output,
        allow_nan=args.allow_nan,
        dtype=args.dtype,
        overwrite=args.overwrite,
        format=args.format,
        sidecar=sidecar_base("degrade", args, input=str(args.input), acquisition_model=model),
    )
    say(
        args,
        f"wrote {path}: {lr.shape[0]}×{lr.shape[1]}×{lr.shape[2]} voxels at "
        f"{' × '.join(f'{s:.4g}' for s in lr.spacing)} mm",
    )
    return 0
