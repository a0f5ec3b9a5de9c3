"""``medsr profile IN``: estimate the through-plane slice profile and the noise of a scan."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from medsr.cli.common import add_input, parse_series, say

HELP = "estimate a thick-slice scan's slice profile (shape, FWHM, gap/overlap) and its noise"
DESCRIPTION = """Estimate how the thick axis of a CT or MRI was acquired, from the scan itself.

The sharp in-plane axes, degraded with candidate slice profiles (rect, Gaussian, trapezoid and a
windowed-sinc MR profile over a range of widths), are matched against the spectrum of the thick
axis; the best fit gives the shape, the full width at half maximum and the gap or overlap against
the slice spacing. A DICOM SliceThickness is used as a weak prior. The noise level and kind
(Rician for MR, Gaussian otherwise) are estimated from the in-plane planes. 'medsr enhance'
does this by default (--profile auto) and uses the estimate on overlapping slices only; the line
'enhance assumes' says what it takes for this scan. -o writes the kernel as the two-column file
(offset_mm weight) that 'medsr enhance --profile FILE' reads.

examples:
  medsr profile thick_t2.nii.gz
  medsr profile dicom_series/ -o t2_profile.txt
  medsr profile ct.nrrd --json"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_input(p)
    p.add_argument("-o", "--output", metavar="KERNEL.txt", default=None, help="write the estimated kernel here")
    p.add_argument("--overwrite", action="store_true", help="replace an existing kernel file")
    p.add_argument("--json", action="store_true", help="print the estimate as JSON")


def _assumed(est: Any, thickness: float) -> str:
    if est.decision == "used":
        return "this estimate (overlapping slices)"
    if est.decision == "narrowed":
        return f"{est.shape} narrowed to FWHM {est.used_fwhm_mm:.2f} mm (noise gain of data consistency at most 2)"
    why = "no overlap found" if est.decision == "rect" else "too low a confidence"
    return f"rect {thickness:.2f} mm ({why}; write this estimate with -o and pass --profile FILE to use it)"


def run(args: argparse.Namespace) -> int:
    from medsr.io import read
    from medsr.io.atomic import check_output
    from medsr.selfsup.plan import _check_image, _thick_axis
    from medsr.selfsup.profile_choice import choose_profile

    if args.output:
        check_output(args.output, overwrite=args.overwrite)
    img = read(args.input, series=parse_series(args.series))
    _check_image(img)
    thick, _ = _thick_axis(img.spacing, img.meta.source_path)  # refuses near-isotropic scans
    header = img.meta.slice_thickness if thick == 2 else None
    rect_mm = float(header or img.spacing[thick])  # what rect assumes
    est = choose_profile(img, None, header, rect_mm)
    noise = est.noise
    if args.output:
        est.write_kernel(Path(args.output), overwrite=args.overwrite)
    if args.json:
        print(json.dumps({"profile": est.to_dict(), "noise": noise}, indent=2))
        return 0
    d = est.to_dict()
    nominal = f", nominal {est.nominal_mm:g} mm" if est.nominal_mm else ""
    rel = (est.fwhm_mm / est.spacing_mm - 1) * 100
    say(
        args,
        f"slice profile: {est.shape}, FWHM {est.fwhm_mm:.2f} mm at {est.spacing_mm:.2f} mm spacing "
        f"({'overlap' if rel > 0 else 'gap'} {abs(rel):.0f} %{nominal}); confidence {est.confidence:.2f}",
    )
    say(args, "misfit per shape (dB): " + ", ".join(f"{k} {v:.3f}" for k, v in d["candidates_db"].items()))
    say(args, "medsr enhance (default --profile auto) assumes: " + _assumed(est, rect_mm))
    say(
        args,
        f"noise: {noise['kind']}, sigma {noise['sigma']:.4g} {img.meta.units} "
        f"({100 * noise['relative']:.2f} % of range)",
    )
    if args.output:
        say(args, f"wrote {args.output} (use: medsr enhance IN -o OUT --profile {args.output})")
    return 0
