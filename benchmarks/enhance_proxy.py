"""Isotropic-data proxy for zero-data SR on real CT and MRI texture (no 3D truth needed).

On a truly isotropic scan, ``medsr enhance`` learns from planes degraded along one sharp axis
and restores planes that contain the thick axis; both kinds of plane carry the same kind of
texture and noise. The shared real scans have thick slices, so no 3D truth exists for them.
This proxy keeps their sharp axial planes and splits them: the even planes are the "sharp
planes" the network trains on (exactly as ``enhance`` trains, same sampler, loss, budget and
network), the odd planes (5–6.5 mm away, so different anatomy) play the thick-axis planes: each
is degraded along X by the referee's rule (mean of ``f`` samples, or ``t`` of every ``f`` for
a gap), restored by the network plus the data-consistency projection, and scored with the
referee's PSNR (foreground mask, data range p0.1–p99.9, border rows left out) and SSIM
(scikit-image, per plane, averaged) against the same cubic B-spline that inference starts from.

The 3D cross-checks of ``benchmarks/enhance.py`` (CT4, MR4) instead declare the real 5 mm axis
at the in-plane spacing, which leaves one of the two "sharp" training axes blurred and aliased;
this proxy has no such artefact but sees no cross-plane statistics. Both are reported.

Run: ``python benchmarks/enhance_proxy.py [--sources ct mr] [--factor 4] [--thickness 4]
[--budget 90] [--steps N] [--net JSON] [--cfg JSON] [--no-tta]``. ``--source-file`` takes any other
NRRD/NIfTI with sharp axial planes (e.g. ``lung2_image.nrrd`` from the pyradiomics 3.0.1 sdist,
held out from tuning). Prints one table row per source; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("MEDSR_SHARED", HERE.parent.parent / "shared")) / "data"
SOURCES = {"ct": DATA / "ct" / "lung1_image.nrrd", "mr": DATA / "mri" / "brain1_image.nrrd"}


def _planes(path: Path) -> tuple[np.ndarray, float, str]:
    """``(Z, Y, X)`` float32 axial planes, the in-plane spacing and the modality guess."""
    import SimpleITK as sitk

    img = sitk.ReadImage(str(path))
    a = sitk.GetArrayFromImage(img).astype(np.float32)
    return a, float(img.GetSpacing()[0]), "CT" if a.min() < -500 else "MR"


def _degrade_x(planes: np.ndarray, f: int, t: int) -> np.ndarray:
    """The referee's LR along X (last axis): mean of the ``t`` central samples of each block."""
    n = planes.shape[-1] // f
    blocks = planes[..., : n * f].reshape(planes.shape[:-1] + (n, f))
    lo = (f - t) // 2
    return blocks[..., lo : lo + t].mean(-1)


def _score(hr: np.ndarray, sr: np.ndarray, f: int) -> tuple[float, float]:
    """Referee-style PSNR (mask, range, border) and mean per-plane SSIM."""
    from scipy import ndimage
    from skimage.metrics import structural_similarity

    lo, hi = np.percentile(hr, [0.1, 99.9])
    rng = float(hi - lo)
    mask = ndimage.binary_dilation(hr > lo + 0.1 * rng, iterations=2)
    mask[..., :f] = False
    mask[..., -f:] = False
    mse = float(np.mean((hr[mask] - sr[mask]) ** 2))
    ssim = float(np.mean([structural_similarity(h, s, data_range=rng) for h, s in zip(hr, sr, strict=False)]))
    return 10 * np.log10(rng**2 / mse), ssim


def run_source(
    path: Path,
    factor: int,
    thickness: int,
    budget: float,
    steps: int | None,
    net: dict[str, Any],
    cfg: dict[str, Any],
    seed: int = 0,
    tta: bool = True,
) -> dict[str, Any]:
    import torch

    from medsr.acquisition.profile import SliceProfile
    from medsr.image import Image, ImageMeta
    from medsr.intensity import Normalizer
    from medsr.mask import training_mask as foreground
    from medsr.models.planar_residual import PlanarResidualNet
    from medsr.selfsup.fit import FitConfig, fit, resolve_precision
    from medsr.selfsup.infer import InferSpec, run_planes
    from medsr.selfsup.operators import AxisOperators
    from medsr.selfsup.pairs import PlaneSampler

    planes, h, modality = _planes(path)
    n_x = planes.shape[-1] - planes.shape[-1] % factor
    planes = planes[..., :n_x]
    train, test = planes[0::2], planes[1::2]
    img = Image(
        np.ascontiguousarray(train.transpose(2, 1, 0))[None],
        spacing=(h, h, h),
        meta=ImageMeta(modality=modality, units="HU" if modality == "CT" else "a.u."),
    )
    scale = Normalizer.fit(img, mode="percentile")
    norm = scale.forward(train[None])[0]
    mask = foreground(img).transpose(2, 1, 0)
    prof = SliceProfile("rect", float(thickness))
    config = FitConfig(**cfg)
    sampler = PlaneSampler(
        norm,
        {0: (float(factor), float(thickness)), 1: (float(factor), float(thickness))},
        prof,
        mask=mask,
        patch=config.patch,
        seed=seed,
    )
    torch.manual_seed(seed)
    prec = resolve_precision("auto", "cpu")
    t0 = time.perf_counter()
    res = fit(
        PlanarResidualNet(**net),
        sampler,
        steps=steps,
        time_budget_s=budget,
        config=config,
        precision=prec,
        seed=seed,
    )
    t_train = time.perf_counter() - t0
    ops = AxisOperators.build(SliceProfile("rect", thickness * h), n_hr=n_x, spacing_hr=h, spacing_lr=factor * h)
    lr = _degrade_x(test, factor, thickness)  # (P, Y, n_lr)
    up = lr @ ops.U.T.astype(np.float32)  # cubic B-spline back onto X
    spec = InferSpec(U=ops.U, R=None, W=ops.W, P=ops.P, halo=0, precision=prec, tta=tta)
    lo, span = float(scale.lo[0]), float(scale.hi[0] - scale.lo[0])
    x = ((up - lo) / span).transpose(0, 2, 1)  # (P, X, Y): the degraded axis first (H)
    sr = run_planes(res.model, np.ascontiguousarray(x), spec)[0].transpose(0, 2, 1) * span + lo
    sr_dc = sr + (lr - sr @ ops.W.T.astype(np.float32)) @ ops.P.T.astype(np.float32)
    up_dc = up + (lr - up @ ops.W.T.astype(np.float32)) @ ops.P.T.astype(np.float32)
    rec = {
        "source": path.name,
        "modality": modality,
        "planes": [len(train), len(test)],
        "shape": list(planes.shape[1:]),
        "steps": res.steps,
        "train_s": round(t_train, 1),
    }
    for name, est in (("bspline", up), ("bspline_dc", up_dc), ("net", sr), ("medsr", sr_dc)):
        rec[name] = [round(v, 4) for v in _score(test, est, factor)]
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sources", nargs="*", default=["ct", "mr"], help="ct and/or mr (the shared scans)")
    ap.add_argument("--source-file", nargs="*", default=[], help="other scans with sharp axial planes")
    ap.add_argument("--factor", type=int, default=4, help="degradation factor along X (samples)")
    ap.add_argument("--thickness", type=int, default=None, help="slice thickness in samples (default: factor)")
    ap.add_argument("--budget", type=float, default=None, help="training seconds (default: enhance's)")
    ap.add_argument("--steps", type=int, default=None, help="fixed step count instead of a budget")
    ap.add_argument("--net", default="{}", help="network overrides (JSON)")
    ap.add_argument("--cfg", default="{}", help="FitConfig overrides (JSON)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-tta", action="store_true", help="no flip averaging at inference (enhance's --no-tta)")
    args = ap.parse_args()
    import torch

    from medsr.selfsup.fit import DEFAULT_BUDGET_S

    torch.set_num_threads(args.threads)
    budget = DEFAULT_BUDGET_S if args.budget is None else args.budget
    paths = [SOURCES[s] for s in args.sources] + [Path(p) for p in args.source_file]
    print("source               mod  factor steps train_s  medsr PSNR/SSIM  bspline PSNR/SSIM  gain   net-only")
    for p in paths:
        r = run_source(
            p,
            args.factor,
            args.thickness or args.factor,
            budget,
            args.steps,
            json.loads(args.net),
            json.loads(args.cfg),
            tta=not args.no_tta,
        )
        m, b, n = r["medsr"], r["bspline"], r["net"]
        print(
            f"{r['source']:<20} {r['modality']:<4} {args.factor}/{args.thickness or args.factor:<4} "
            f"{r['steps']:5d} {r['train_s']:7.1f}  {m[0]:6.2f} {m[1]:.4f}    {b[0]:6.2f} {b[1]:.4f}   "
            f"{m[0] - b[0]:+5.2f}  {n[0] - b[0]:+5.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
