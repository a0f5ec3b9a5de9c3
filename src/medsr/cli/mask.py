"""``medsr mask IN OUT``: the foreground mask (threshold + morphology) used by metrics and tiling."""

from __future__ import annotations

import argparse

from medsr.cli.common import add_input, add_output, check_output_first, parse_series, say, sidecar_base

HELP = "write the foreground mask of an image (threshold segmentation + morphology)"
DESCRIPTION = """Write the foreground mask (1 = foreground) that medsr uses for metrics, patch
sampling and tile skipping: a threshold (Otsu, or the modality's default such as the body
above -500 HU for CT) followed by closing, hole filling and keeping the large components.

example:
  medsr mask chest.nrrd chest_mask.nii.gz"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input(p)
    add_output(p, dtype=False)
    p.add_argument(
        "--method",
        choices=("auto", "otsu", "threshold"),
        default="auto",
        help="auto: the modality default (CT body threshold, Otsu otherwise)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="intensity threshold for --method threshold (image units, e.g. HU)",
    )


def run(args: argparse.Namespace) -> int:
    from medsr.io import read, write
    from medsr.mask import mask_image

    check_output_first(args)
    img = read(args.input, series=parse_series(args.series), check=not args.allow_nan)
    out = mask_image(img, method=args.method, threshold=args.threshold)
    fraction = float(out.data.mean())
    path = write(
        out,
        args.output,
        allow_nan=args.allow_nan,
        dtype="uint8",
        overwrite=args.overwrite,
        format=args.format,
        sidecar=sidecar_base(
            "mask",
            args,
            input=str(args.input),
            method=args.method,
            threshold=args.threshold,
            foreground_fraction=fraction,
        ),
    )
    say(args, f"wrote {path} (foreground {100 * fraction:.1f} % of voxels)")
    return 0
