"""Zero-data through-plane SR (``medsr.selfsup.enhance``): quality, time, memory and GFLOP/s.

Cases (each run in its own subprocess so its peak RSS is its own):

* ``MNI4``: 1 mm MNI T1, Z degraded ×4 by the referee (4 mm rect slices);
* ``MNI53``: the same, ×5 with 3 mm slices (2 mm gaps);
* ``CT4`` / ``CT53``: cross-check on another anatomy and modality: a crop of the real chest CT
  whose sharp axial axes are HR; X is degraded ×4 (resp. ×5, 3 mm) by the referee. The CT's
  5 mm slice axis is declared at the in-plane spacing, so it becomes the second "sharp" axis:
  its content is smoother than true 0.57 mm data (a caveat of this cross-check);
* ``MR4``: the same from the real brain MRI (0.78 mm in-plane, T1 post-contrast);
* ``CT4H`` / ``CT53H`` / ``MR4H``: the same from scans held out from all tuning (``lung2`` and
  ``brain2`` of the pyradiomics 3.0.1 sdist, not in ``../shared``; ``--heldout DIR``);
* ``SPEED``: the real CT cropped to 256×256×40, spacing declared 1×1×5 mm → ×5 = 256×256×200;
* ``BIG``: the CT mirrored to 512×512×100 (1×1×5 mm) → ×5 = 512×512×500, for peak RSS (output
  in RAM unless ``--memmap``).

Referee cases are scored by ``../shared/referee/referee.py`` (PSNR in its foreground mask, SSIM
over the image) against its cubic B-spline. GFLOP/s counts the network's convolutions
analytically (2 per multiply-add; training = 3× forward) against the fp32/bf16 matmul peak of
``benchmarks/_peak.py``.

Run: ``python benchmarks/enhance.py [--cases MNI4 MNI53 CT4 MR4 SPEED BIG] [--budget 90]
[--ablate]``. ``--ablate`` also scores, from the same fitted network, single orientations, no
data-consistency projection, no flip averaging and the untrained network (cubic B-spline + projection).
Prints a table and writes ``results.json`` under ``--work``; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("MEDSR_SHARED", HERE.parent.parent / "shared"))
REFEREE = SHARED / "referee" / "referee.py"
DATA = SHARED / "data"
REFEREE_CASES = {  # name -> (source maker, factors, thickness)
    "MNI4": ("mni", (1, 1, 4), None),
    "MNI53": ("mni", (1, 1, 5), (1, 1, 3)),
    "CT4": ("ct", (4, 1, 1), None),
    "CT53": ("ct", (5, 1, 1), (3, 1, 1)),
    "MR4": ("mr", (4, 1, 1), None),
    # held out from all tuning: lung2 / brain2 of the pyradiomics 3.0.1 sdist (``--heldout DIR``)
    "CT4H": ("ct2", (4, 1, 1), None),
    "CT53H": ("ct2", (5, 1, 1), (3, 1, 1)),
    "MR4H": ("mr2", (4, 1, 1), None),
}
HELDOUT = {"ct2": "lung2_image.nrrd", "mr2": "brain2_image.nrrd"}
heldout_dir: Path | None = None


def _referee(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, str(REFEREE), *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _source(kind: str, work: Path) -> Path:
    """HR volume of a referee case: the MNI file, or a real scan with sharp axial planes."""
    import SimpleITK as sitk

    if kind == "mni":
        return DATA / "mri" / "mni152_t1_1mm.nii.gz"
    path = work / f"{kind}_hr.nii.gz"
    if not path.exists():
        if kind in HELDOUT:
            if heldout_dir is None:
                raise SystemExit(f"case needs --heldout DIR holding {HELDOUT[kind]} (pyradiomics 3.0.1 sdist, data/)")
            src = heldout_dir / HELDOUT[kind]
        else:
            src = DATA / ("ct/lung1_image.nrrd" if kind == "ct" else "mri/brain1_image.nrrd")
        img = sitk.ReadImage(str(src))
        a = sitk.GetArrayFromImage(img).astype(np.float32)  # (z, y, x)
        a = a[:, 96:416, 48:464] if kind.startswith("ct") else a[:, 16:240, 16:240]
        out = sitk.GetImageFromArray(a)
        s = img.GetSpacing()[0]
        out.SetSpacing((s, s, s))  # slice axis declared at the in-plane spacing (see docstring)
        sitk.WriteImage(out, str(path))
    return path


def make_case(name: str, work: Path) -> Path:
    kind, factors, thickness = REFEREE_CASES[name]
    case = work / name
    if not (case / "baseline.json").exists():
        args = ["make", str(_source(kind, work)), str(case), "--factors", *map(str, factors)]
        if thickness:
            args += ["--thickness", *map(str, thickness)]
        _referee(*args)
        _referee("baseline", str(case))
    return case


def _synthetic(name: str, work: Path) -> Path:
    import SimpleITK as sitk

    path = work / f"{name}.nii.gz"
    if not path.exists():
        ct = sitk.ReadImage(str(DATA / "ct" / "lung1_image.nrrd"))
        a = sitk.GetArrayFromImage(ct).astype(np.float32)  # (48, 512, 512)
        if name == "SPEED":
            a = a[4:44, 128:384, 128:384]
        else:
            a = np.concatenate([a, a[::-1], a[:4]])[:100]
        img = sitk.GetImageFromArray(a)
        img.SetSpacing((1.0, 1.0, 5.0))  # ×5 to isotropic 1 mm, as the targets state them
        sitk.WriteImage(img, str(path))
    return path


# ---------------------------------------------------------------------------------------------
def worker(args: argparse.Namespace) -> None:
    """One case in this process: enhance (and ablations), write outputs and a JSON record."""
    import SimpleITK as sitk

    from medsr.selfsup import run
    from medsr.selfsup.config import EnhanceConfig
    from medsr.selfsup.enhance import _Clock, enhance
    from medsr.selfsup.plan import plan_enhance
    from medsr.sitk_bridge import from_sitk, to_sitk

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    kw: dict[str, Any] = {}
    if args.case_dir:
        meta = json.load(open(Path(args.case_dir) / "case.json"))
        lr = from_sitk(sitk.ReadImage(str(Path(args.case_dir) / "lr.nii.gz")))
        k = int(np.argmax(meta["factors"]))
        kw = {
            "factors": meta["factors"],
            "slice_thickness_mm": meta["thickness"][k] * lr.spacing[k] / meta["factors"][k],
        }
    else:
        lr = from_sitk(sitk.ReadImage(args.input))
        kw = {"factors": (1, 1, 5)}
    net = json.loads(args.net)  # over PlanarResidualNet's defaults
    t0, c0 = time.perf_counter(), time.process_time()
    res = enhance(
        lr,
        time_budget_s=args.budget,
        steps=args.steps,
        threads=args.threads,
        net=net,
        init=None if args.init == "none" else args.init,
        workdir=args.workdir,
        **kw,
    )
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rec = {"wall_s": wall, "cpu_s": cpu, "info": res.info}
    if args.case_dir:
        sitk.WriteImage(to_sitk(res.image), str(out_dir / "medsr.nii.gz"))
    if args.ablate:  # the same fitted network, other inference choices
        plan = plan_enhance(lr, **kw)
        cfg = EnhanceConfig(
            time_budget_s=args.budget,
            steps=res.info["training"]["steps"],
            net=net,
            precision=res.info["training"]["precision"],
            init=None if args.init == "none" else args.init,
            threads=args.threads,
        )
        fitted = run.fit_network(lr, plan, cfg, clock=_Clock(), device="cpu", progress=None)
        variants = {
            "full": dict(),
            "no_dc": dict(project=False),
            "only_A": dict(fusion="A"),
            "only_B": dict(fusion="B"),
            "no_tta": dict(tta=False),
            "bspline_dc": dict(),
        }
        for name, opts in variants.items():
            if name == "bspline_dc":
                _untrained(fitted)  # zero-initialised tail: the network is the identity
            run_cfg = cfg.replace(tta=bool(opts.pop("tta", cfg.tta)))
            est, _, _ = run.infer_volume(lr, plan, fitted, run_cfg, clock=_Clock(), device="cpu", progress=None, **opts)
            img = lr.with_data(np.ascontiguousarray(est)[None], grid=plan.output_grid)
            sitk.WriteImage(to_sitk(img), str(out_dir / f"{name}.nii.gz"))
    rec["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    json.dump(rec, open(out_dir / "record.json", "w"), indent=1, default=float)


def _untrained(fitted: Any) -> Any:
    from medsr.models.planar_residual import PlanarResidualNet

    fitted.model = PlanarResidualNet(**fitted.net_config).eval()
    return fitted


def make_prior(seconds: float, threads: int, out: str | None = None) -> None:
    """Train and write the shipped prior from data that no benchmark case or test uses."""
    import SimpleITK as sitk
    import torch

    from medsr.image import Image
    from medsr.intensity import Normalizer
    from medsr.selfsup.prior import save_prior, train_prior

    def scaled(stack: np.ndarray) -> np.ndarray:  # (N, A, B) → p0.5..p99.5 window, as enhance does
        norm = Normalizer.fit(Image(stack.transpose(1, 2, 0)[None].astype(np.float32)), mode="percentile")
        return norm.forward(stack[None])[0]

    torch.set_num_threads(threads)
    stacks = []
    xr = sitk.GetArrayFromImage(sitk.ReadImage(str(DATA / "xray" / "chest_cr.dcm"))).astype(np.float32)
    xr = xr.reshape(xr.shape[-2:])
    for plane in (xr, xr[::2, ::2]):  # two scales
        stacks.append(scaled(plane[None]))
    r = sitk.ImageSeriesReader()
    files = r.GetGDCMSeriesFileNames(str(DATA / "dicom" / "mr_brain_series"))
    r.SetFileNames(files)
    mr = sitk.GetArrayFromImage(r.Execute()).astype(np.float32)  # (20, 256, 256) axial planes
    stacks.append(scaled(mr))
    model, res = train_prior(stacks, seconds=seconds)
    target = Path(out) if out else HERE.parent / "src" / "medsr" / "data" / "priors" / "planar_residual.safetensors"
    target.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "sources": ["xray/chest_cr.dcm (2 scales)", "dicom/mr_brain_series (20 axial planes)"],
        "steps": res.steps,
        "seconds": res.seconds,
        "final_loss": res.loss_curve[-1][1],
    }
    path = save_prior(model, target, meta)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB), {res.steps} steps, loss {res.loss_curve[-1][1]:.4f}")


# ---------------------------------------------------------------------------------------------
def _run_worker(
    name: str, work: Path, args: argparse.Namespace, case: Path | None, input_path: Path | None
) -> dict[str, Any]:
    out = work / "out" / name
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        "--out",
        str(out),
        "--budget",
        str(args.budget),
        "--net",
        args.net,
        "--init",
        args.init,
    ]
    cmd += ["--case-dir", str(case)] if case else ["--input", str(input_path)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.steps:
        cmd += ["--steps", str(args.steps)]
    if args.ablate and case:
        cmd += ["--ablate"]
    if name == "BIG" and args.memmap:
        cmd += ["--workdir", str(work / "mm")]
        (work / "mm").mkdir(exist_ok=True)
    subprocess.run(cmd, check=True)
    rec = json.load(open(out / "record.json"))
    if case:
        base = json.load(open(case / "baseline.json"))["bspline3"]
        rec["bspline"] = base
        rec["scores"] = {
            p.stem.replace(".nii", ""): _referee("score", str(case), str(p)) for p in sorted(out.glob("*.nii.gz"))
        }
    return rec


def _row(name: str, rec: dict[str, Any], peak: dict[str, float]) -> str:
    info = rec["info"]
    t = info["timings_s"]
    prec = info["training"]["precision"]
    pk = peak["bfloat16" if prec == "bfloat16" else "float32"]
    g_train = info["flops"]["train"] / max(t["train"], 1e-9) / 1e9
    g_inf = info["flops"]["inference"] / max(t["infer"], 1e-9) / 1e9
    s = rec.get("scores", {}).get("medsr")
    b = rec.get("bspline")
    q = (
        f"{s['psnr']:6.2f} {s['ssim']:.4f} {b['psnr']:6.2f} {b['ssim']:.4f} {s['psnr'] - b['psnr']:+5.2f}"
        if s and b
        else " " * 36
    )
    return (
        f"{name:<6} {info['factor']:5.2f} {info['training']['steps']:6d} {t['train']:7.1f} {t['infer']:7.1f} "
        f"{rec['wall_s']:7.1f} {rec['cpu_s']:7.1f} {rec['peak_rss_mb']:7.0f}  {q}  "
        f"{g_train:6.1f} {g_inf:6.1f} {100 * g_train / pk:5.1f}% {100 * g_inf / pk:5.1f}% ({prec})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", nargs="*", default=["MNI4", "MNI53", "CT4", "MR4", "SPEED", "BIG"])
    ap.add_argument("--budget", type=float, default=None, help="training seconds (default: enhance's)")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--net", default="{}")
    ap.add_argument("--init", default="auto")
    ap.add_argument("--work", default="/tmp/medsr_bench_enhance")
    ap.add_argument("--ablate", action="store_true")
    ap.add_argument(
        "--heldout",
        help="folder with lung2_image.nrrd and brain2_image.nrrd (pyradiomics 3.0.1 "
        "sdist, data/) for the held-out cases CT4H, CT53H, MR4H",
    )
    ap.add_argument("--memmap", action="store_true", help="BIG writes its output to a memmap")
    ap.add_argument(
        "--make-prior",
        metavar="SECONDS",
        type=float,
        help="train the generic warm start on data no case uses (the chest X-ray and the "
        "PD MR DICOM series) and write it to src/medsr/data/priors/",
    )
    ap.add_argument("--prior-out", help="where --make-prior writes (default: the shipped location)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--case-dir", help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if args.make_prior:
        return make_prior(args.make_prior, args.threads or 1, args.prior_out)
    if args.budget is None:
        from medsr.selfsup.fit import DEFAULT_BUDGET_S

        args.budget = DEFAULT_BUDGET_S
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    global heldout_dir
    heldout_dir = Path(args.heldout) if args.heldout else None
    sys.path.insert(0, str(HERE))
    from _peak import peaks

    peak = peaks(threads=2, n=1024, repeats=3)
    results: dict[str, Any] = {"peak_gflops": peak}
    for name in args.cases:
        case = make_case(name, work) if name in REFEREE_CASES else None
        inp = None if case else _synthetic(name, work)
        results[name] = _run_worker(name, work, args, case, inp)
        json.dump(results, open(work / "results.json", "w"), indent=1, default=float)
    print(
        f"matmul peak (2 threads): fp32 {peak['float32']:.0f}, bf16 {peak['bfloat16']:.0f} GFLOP/s "
        f"(shared machine: other jobs may be running)"
    )
    print(
        "case   factor  steps train_s infer_s  wall_s   cpu_s  rss_MB   PSNR   SSIM   "
        "bsPSNR bsSSIM  gain  trainGF  infGF  %peak(train, infer)"
    )
    for name in args.cases:
        print(_row(name, results[name], peak))
    if args.ablate:
        print("\nablations (referee PSNR / SSIM; gain vs cubic B-spline):")
        for name in args.cases:
            rec = results[name]
            if "scores" not in rec:
                continue
            b = rec["bspline"]["psnr"]
            for v, s in rec["scores"].items():
                print(f"  {name:<6} {v:<11} {s['psnr']:6.2f} {s['ssim']:.4f} {s['psnr'] - b:+5.2f}")


if __name__ == "__main__":
    main()
