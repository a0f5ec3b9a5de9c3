"""``medsr demo``: the whole pipeline on an embedded sample, with a figure to look at."""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from medsr.cli.common import print_table, say

HELP = "run medsr on the embedded sample and write outputs, scores and a figure"
DESCRIPTION = """Run the pipeline on a sample that ships with medsr (no data needed):
the 1 mm MNI T1 crop is degraded to 4 mm slices (rect profile), restored with classical
interpolation (linear, cubic B-spline), scored against the 1 mm original, and a comparison
figure is written.

example:
  medsr demo -o medsr_demo"""

log = logging.getLogger("medsr.cli.demo")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="medsr_demo", metavar="DIR",
                   help="folder for the outputs (created if missing; default ./medsr_demo)")
    p.add_argument("--factor", type=float, default=4.0, help="through-plane degradation factor (default 4)")
    p.add_argument("--overwrite", action="store_true", help="replace outputs of an earlier demo run")


def run(args: argparse.Namespace) -> int:
    from medsr.baselines import upsample
    from medsr.degrade import degrade
    from medsr.io import read, write
    from medsr.metrics import evaluate, evaluation_table
    from medsr.report.figures import comparison_figure
    from medsr.samples import sample_path

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    hr = read(sample_path("mni-t1"))
    f = (1.0, 1.0, float(args.factor))
    lr = degrade(hr, f, profile="rect")
    kw = {"overwrite": args.overwrite}
    write(hr, out / "hr.nii.gz", **kw, sidecar={"command": "demo", "step": "reference"})
    write(lr, out / "lr.nii.gz", **kw, sidecar={"command": "demo", "step": "degrade",
                                               "acquisition_model": lr.meta.history[-1]})
    preds, names = [], []
    for method in ("linear", "bspline"):
        up = upsample(lr, factors=f, method=method)
        write(up, out / f"{method}.nii.gz", **kw, sidecar={"command": "demo", "step": "upsample", "method": method})
        preds.append(up)
        names.append(method)
    result = evaluate(hr, preds, names=names, mask="threshold", factors=f)
    rows = evaluation_table(result)
    fig = comparison_figure(hr, preds, names, out / "comparison.png",
                            scores=result, factors=f)
    if not args.quiet:
        print_table(rows, ("name", "psnr", "ssim", "ssim_mask", "mask_voxels"))
    say(args, f"demo finished in {time.perf_counter() - t0:.1f} s; outputs in {out}/, figure {fig}")
    return 0
