"""How well the slice profile is estimated from the scan, and whether ``enhance`` would use it.

Every case is a realistic acquisition from ``benchmarks/realistic.py`` (the same sources,
profiles and noise): four shapes (rect, Gaussian, trapezoid, an RF-pulse profile) at FWHM 0.6,
1.0 and 1.5× the slice spacing (gap, contiguous, overlap), factor 4, CT 1 % Gaussian noise, MR
2 % Rician, MNI none. Only the estimator runs (no training), 2–5 s per case.

Prints one row per case (true and estimated shape and FWHM, confidence, the decision of
``medsr.selfsup.profile_choice``) and a summary per source and spacing ratio.

Run: ``python benchmarks/profile_accuracy.py [--sources mni ct mr ct2 mr2] [--heldout DIR]``
(``ct2``/``mr2``: the pyradiomics 3.0.1 sdist's ``lung2``/``brain2``, held out from tuning).
Asserts nothing.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path
from typing import Any

import realistic

SHAPES = ("rect", "gaussian", "trapezoid", "mr-sinc")
RATIOS = (0.6, 1.0, 1.5)
NOISE = {"mni": 0.0, "ct": 1.0, "ct2": 1.0, "mr": 2.0, "mr2": 2.0}


def one(src: str, shape: str, ratio: float, heldout: Path | None) -> dict[str, Any]:
    from medsr.selfsup.profile_choice import choose_profile

    realistic.CASES["_acc"] = (src, 4, shape, 4 * ratio, NOISE[src])
    case = realistic.make_case("_acc", heldout)
    lr = case["lr"]
    spacing = float(max(lr.spacing))
    t0 = time.perf_counter()
    est = choose_profile(lr, None, None, spacing)
    return {
        "src": src,
        "shape": shape,
        "ratio": ratio,
        "fwhm": case["fwhm_mm"],
        "est": est,
        "err": (est.fwhm_mm / case["fwhm_mm"] - 1) * 100,
        "s": time.perf_counter() - t0,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sources", nargs="*", default=["mni", "ct", "mr"])
    ap.add_argument("--shapes", nargs="*", default=list(SHAPES))
    ap.add_argument("--heldout", default=None, help="folder with lung2_image.nrrd and brain2_image.nrrd")
    args = ap.parse_args(argv)
    heldout = Path(args.heldout) if args.heldout else None
    rows = []
    print("src  shape     ratio  true_mm  estimate            error   conf  decision  time_s")
    for src, shape, ratio in itertools.product(args.sources, args.shapes, RATIOS):
        r = one(src, shape, ratio, heldout)
        rows.append(r)
        e = r["est"]
        print(
            f"{src:<4} {shape:<9} {ratio:4.1f}  {r['fwhm']:7.2f}  {e.shape:<9} {e.fwhm_mm:6.2f} mm  "
            f"{r['err']:+6.1f}%  {e.confidence:4.2f}  {e.decision:<8}  {r['s']:5.1f}",
            flush=True,
        )
    print("\nsrc  ratio  width error (min..max)  right shape  used by enhance")
    for src, ratio in itertools.product(args.sources, RATIOS):
        sel = [r for r in rows if r["src"] == src and r["ratio"] == ratio]
        err = [r["err"] for r in sel]
        right = sum(r["est"].shape == r["shape"] for r in sel)
        used = sum(r["est"].decision in ("used", "narrowed") for r in sel)
        span = f"{min(err):+6.1f} .. {max(err):+6.1f} %"
        print(f"{src:<4} {ratio:4.1f}   {span}      {right}/{len(sel)}          {used}/{len(sel)}")


if __name__ == "__main__":
    main()
