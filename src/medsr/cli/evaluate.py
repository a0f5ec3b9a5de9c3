"""``medsr evaluate --reference HR --prediction SR [SR2 ...]``: PSNR/SSIM in a foreground mask."""

from __future__ import annotations

import argparse
import csv
import io
import math
from pathlib import Path

from medsr.cli.common import add_factors, factors3, print_table, say, write_json, write_text
from medsr.errors import ConfigError

HELP = "score predictions against a reference: PSNR/SSIM in a mask, per-slice profile, figure"
DESCRIPTION = """Score one or more predictions against a high-resolution reference.

PSNR uses data_range = p99.9 - p0.1 of the reference inside a foreground mask (reference above
10 % of that range, dilated by 2 voxels), leaving out the first and last F voxels along every
axis with factor F > 1; SSIM is 3D over the whole image with the same data range (the
conventions of ../shared/referee). A prediction on another grid is resampled onto the
reference grid (linear, in world coordinates) and flagged 'resampled'.

With --factors, PSNR/SSIM are also given at acquired slices (within half a voxel of an LR slice
centre) and at unacquired ones. --segment segments the reference and every prediction the same
way (threshold: the threshold segmentation, fixed on the reference; otsu; or a reference label
map FILE, whose best-fitting threshold is applied near the labels) and reports Dice, the volume
error in mL and the 95 % Hausdorff distance in mm.

examples:
  medsr evaluate --reference hr.nii.gz --prediction sr.nii.gz bspline.nii.gz --factors 1 1 4
  medsr evaluate --reference hr.nii.gz --prediction sr.nii.gz --lr lr.nii.gz --figure cmp.png --json scores.json
  medsr evaluate --reference hr.nii.gz --prediction sr.nii.gz --factors 1 1 5 --segment seg.nii.gz"""

COLUMNS = ("name", "psnr", "ssim", "ssim_mask", "gain_vs_bspline_db", "mask_voxels", "resampled")
SPLIT_COLUMNS = ("psnr_acquired", "psnr_unacquired", "ssim_acquired", "ssim_unacquired")
SEG_COLUMNS = ("dice", "volume_error_ml", "hd95_mm")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reference", required=True, metavar="HR", help="the high-resolution reference image")
    p.add_argument("--prediction", required=True, nargs="+", metavar="SR", help="one or more images to score")
    p.add_argument("--names", nargs="+", default=None, help="display names for the predictions (default: file names)")
    p.add_argument(
        "--lr",
        default=None,
        metavar="LR",
        help="the low-resolution input: adds linear and cubic B-spline baselines and the gain over B-spline",
    )
    add_factors(p, what="degradation (border voxels left out)")
    p.add_argument(
        "--mask",
        default="threshold",
        metavar="threshold|otsu|FILE",
        help="foreground mask: threshold (referee convention, default), otsu, or a mask image file",
    )
    p.add_argument(
        "--segment",
        default=None,
        metavar="threshold|otsu|FILE",
        help="also segment reference and predictions the same way: Dice, volume error (mL), HD95 (mm)",
    )
    p.add_argument("--json", default=None, metavar="F", help="write all scores (and per-slice profiles) as JSON")
    p.add_argument("--csv", default=None, metavar="F", help="write the score table as CSV")
    p.add_argument(
        "--figure",
        default=None,
        metavar="F.png",
        help="write a figure: the same slice of every prediction and the reference, with difference maps",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing --json/--csv/--figure files")


def _check_outputs(args: argparse.Namespace) -> None:
    """Every output against every input and the destination rules, before any work."""
    from medsr.errors import OutputError
    from medsr.io.atomic import check_outputs, register_inputs

    outs = [p for p in (args.json, args.csv, args.figure) if p]
    if len({Path(p).absolute() for p in outs}) < len(outs):
        raise OutputError(outs[0], "two of --json/--csv/--figure name the same file", "give each its own name")
    register_inputs([args.reference, *args.prediction, *([args.lr] if args.lr else [])])
    for choice in (args.mask, args.segment):
        if choice is not None and choice not in ("threshold", "otsu"):
            register_inputs([choice])
    check_outputs([(p, False) for p in outs], overwrite=args.overwrite)


def _load(args: argparse.Namespace) -> tuple:
    from medsr.io import read

    ref = read(args.reference)
    preds = [read(p) for p in args.prediction]
    names = args.names or [Path(p).name for p in args.prediction]
    if len(names) != len(preds):
        raise ConfigError(None, f"{len(names)} names for {len(preds)} predictions", "give one name per prediction")
    if args.lr:
        from medsr.baselines import resample_to_grid

        lr = read(args.lr)
        for method in ("linear", "bspline"):
            preds.append(resample_to_grid(lr, ref.grid, method=method))
            names.append(method)
    mask = args.mask
    if mask not in ("threshold", "otsu"):
        mask = read(mask).data[0] > 0.5
    segment = args.segment
    if segment is not None and segment not in ("threshold", "otsu"):
        from medsr.classical.labels import check_labels

        segment = read(segment)
        check_labels(segment)
    return ref, preds, names, mask, segment


def run(args: argparse.Namespace) -> int:
    from medsr.evaluation import evaluate, evaluation_table

    _check_outputs(args)
    ref, preds, names, mask, segment = _load(args)
    result = evaluate(ref, preds, names=names, mask=mask, factors=factors3(args.factors), segment=segment)
    rows = evaluation_table(result)
    columns = list(COLUMNS) + (list(SPLIT_COLUMNS) if args.factors else []) + (list(SEG_COLUMNS) if segment else [])
    base = next((r["psnr"] for r in rows if r["name"] == "bspline"), None)
    for r in rows:
        ok = base is not None and r["psnr"] is not None
        r["gain_vs_bspline_db"] = round(r["psnr"] - base, 3) if ok else ""
        if r["psnr"] is None:  # identical images: infinite PSNR (JSON keeps null)
            r["psnr"] = float("inf")
    if not args.quiet:
        print_table(rows, columns)
    if args.json:
        finite = [
            {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()} for r in rows
        ]
        write_json(args.json, {"reference": args.reference, "rows": finite, "result": result}, args.overwrite)
    if args.csv:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
        write_text(args.csv, buf.getvalue(), args.overwrite)
    if args.figure:
        from medsr.report.figures import comparison_figure

        comparison_figure(
            ref, preds, names, args.figure, scores=result, factors=factors3(args.factors), overwrite=args.overwrite
        )
        say(args, f"wrote {args.figure}")
    return 0
