"""Every method on every case, in one table: interpolation, the classical SR families and
``medsr enhance`` (issue 13).

Cases (HR truth, degraded by ``medsr.degrade``, which equals the referee's ``make`` for rect):

* ``MNI4``: MNI152 1 mm, ×4 along Z, rect slices (the referee's default case);
* ``MNI5G``: MNI152, ×5 along Z, 3 mm slices 5 mm apart (2 mm gaps);
* ``CT4G``: the real chest CT, ×4 along X (a sharp in-plane axis), Gaussian profile of FWHM 4
  voxels, CT noise 1 % of the range; with the real nodule label;
* ``MR5G``: the real brain MRI, ×5 along X, rect 3 voxels (gaps), Rician noise 1 %; with the
  real tumour label.

Methods: ``bspline``, ``lanczos``, ``shape``, ``registration``, ``nlm`` (:mod:`medsr.classical`)
and ``enhance`` (defaults, ``--time-budget``). No shipped bundle restores through-plane, so none
applies here. For each: PSNR/SSIM (referee conventions), PSNR at acquired and unacquired slices,
Dice and volume error of the threshold segmentation, Dice and HD95 of the real label (rule of
:mod:`medsr.downstream`), wall time and peak RSS of the process during the method.

Run: ``python benchmarks/compare.py [--cases MNI4 ...] [--methods ...] [--budget 90]
[--figure docs/img/comparison.png]``. Prints a Markdown table, writes JSON with ``--json``; asserts
nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("MEDSR_SHARED", HERE.parent.parent / "shared"))
DATA = SHARED / "data"

#: name -> (source, axis, factor, profile, thickness in HR voxels, noise %)
CASES: dict[str, tuple[str, int, int, str, float, float]] = {
    "MNI4": ("mni", 2, 4, "rect", 4.0, 0.0),
    "MNI5G": ("mni", 2, 5, "rect", 3.0, 0.0),
    "CT4G": ("ct", 0, 4, "gaussian", 4.0, 1.0),
    "MR5G": ("mr", 0, 5, "rect", 3.0, 1.0),
}
METHODS = ("truth", "bspline", "lanczos", "shape", "registration", "nlm", "enhance")


class PeakRSS:
    """Peak resident set size (MB) of this process while the block runs (sampled every 20 ms)."""

    def __enter__(self) -> PeakRSS:
        self.peak = self._rss()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    @staticmethod
    def _rss() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self._rss())


def source(kind: str) -> tuple[Any, Any]:
    """``(HR image, HR label or None)``; real scans are cropped and declared isotropic in-plane."""
    import medsr
    from medsr.image import Image, ImageMeta

    if kind == "mni":
        img = medsr.read(DATA / "mri" / "mni152_t1_1mm.nii.gz")
        return img.with_data(np.ascontiguousarray(img.data[:, 8:188, 8:224, 4:184])), None
    stem = "ct/lung1" if kind == "ct" else "mri/brain1"
    img, lab = medsr.read(DATA / f"{stem}_image.nrrd"), medsr.read(DATA / f"{stem}_label.nrrd")
    crop = (slice(None), slice(48, 464), slice(96, 416))
    if kind != "ct":
        crop = (slice(None), slice(16, 240), slice(16, 240))
    s = float(img.spacing[0])
    meta = ImageMeta(modality="CT" if kind == "ct" else "MR", units=img.meta.units)
    hr = Image(np.ascontiguousarray(img.data[crop]), spacing=(s, s, s), meta=meta)
    return hr, hr.with_data(np.ascontiguousarray(lab.data[crop]))


def make_case(name: str) -> dict[str, Any]:
    import medsr
    from medsr.acquisition.profile import SliceProfile

    kind, axis, f, prof, thick, noise_pct = CASES[name]
    hr, lab = source(kind)
    n = hr.shape[axis] - hr.shape[axis] % f
    sl: list[slice] = [slice(None)] * 4
    sl[1 + axis] = slice(0, n)
    hr = hr.with_data(np.ascontiguousarray(hr.data[tuple(sl)]))
    lab = None if lab is None else lab.with_data(np.ascontiguousarray(lab.data[tuple(sl)]))
    h = float(hr.spacing[axis])
    factors, thickness = [1, 1, 1], [None, None, None]
    factors[axis], thickness[axis] = f, thick * h
    noise = None
    if noise_pct:
        lo, hi = np.percentile(hr.data, [1, 99])
        noise = {"kind": "rician" if kind == "mr" else "ct", "sigma": float(noise_pct / 100 * (hi - lo))}
    lr = medsr.degrade(hr, factors, thickness_mm=thickness, profile=SliceProfile(prof, thick * h), noise=noise, seed=0)
    return {"hr": hr, "lr": lr, "label": lab, "factors": factors, "axis": axis}


def run_method(method: str, case: dict[str, Any], budget: float) -> Any:
    from medsr.baselines import resample_to_grid

    lr, hr = case["lr"], case["hr"]
    if method == "truth":  # the ceiling of the segmentation figures: the rule applied to the truth
        return hr.with_data(hr.data.copy())
    if method in ("bspline", "lanczos"):
        return resample_to_grid(lr, hr.grid, method)
    if method == "enhance":
        from medsr.selfsup.enhance import enhance

        return enhance(lr, spacing=tuple(float(s) for s in hr.spacing), time_budget_s=budget).image
    from medsr.classical import upsample

    return upsample(lr, grid=hr.grid, method=method)


def score(case: dict[str, Any], pred: Any, name: str) -> dict[str, Any]:
    from medsr.evaluation import evaluate

    hr = case["hr"]
    r = evaluate(hr, [pred], names=[name], factors=case["factors"], segment="threshold")["predictions"][name]
    row = {
        "psnr": r["psnr"],
        "ssim": r["ssim"],
        "psnr_acq": r["slices"]["acquired"]["psnr"],
        "psnr_unacq": r["slices"]["unacquired"]["psnr"],
        "dice_thr": r["segmentation"]["dice"],
        "vol_err_thr_ml": r["segmentation"]["volume_error_ml"],
    }
    if case["label"] is not None:
        s = evaluate(hr, [pred], names=[name], factors=case["factors"], segment=case["label"])["predictions"][name]
        row.update(dice_label=s["segmentation"]["dice"], vol_err_label_ml=s["segmentation"]["volume_error_ml"])
        row["hd95_label_mm"] = s["segmentation"]["hd95_mm"]
    return row


COLS = ("case", "method", "psnr", "ssim", "gain_db", "psnr_acq", "psnr_unacq", "dice_thr", "vol_err_thr_ml")
COLS += ("dice_label", "vol_err_label_ml", "hd95_label_mm", "seconds", "peak_rss_mb")


def _cell(v: Any, col: str = "") -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if col == "gain_db":
            return f"{v:+.2f}"
        return f"{v:.4f}" if abs(v) < 1 else f"{v:.2f}"
    return str(v)


def figure(cases: dict[str, dict[str, Any]], preds: dict[str, dict[str, Any]], path: Path) -> None:
    """The same slice (across the degraded axis) of every method, for each case; with |error|."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(next(iter(preds.values())))
    fig, axes = plt.subplots(len(cases), len(names) + 1, figsize=(2.2 * (len(names) + 1), 2.4 * len(cases)))
    axes = np.atleast_2d(axes)
    for r, (cname, case) in enumerate(cases.items()):
        hr, axis = case["hr"].data[0], case["axis"]
        other = [a for a in range(3) if a != axis]
        k = hr.shape[other[-1]] // 2

        def take(v: np.ndarray, k: int = k, a: int = other[-1]) -> np.ndarray:
            return np.take(v, k, axis=a).T

        lo, hi = np.percentile(hr, [0.5, 99.5])
        axes[r, 0].imshow(take(hr), cmap="gray", vmin=lo, vmax=hi, origin="lower", aspect="auto")
        axes[r, 0].set_title(f"{cname}: truth", fontsize=8)
        for c, m in enumerate(names, start=1):
            v = preds[cname][m].data[0]
            axes[r, c].imshow(take(v), cmap="gray", vmin=lo, vmax=hi, origin="lower", aspect="auto")
            axes[r, c].set_title(m, fontsize=8)
        for a in axes[r]:
            a.set_xticks([])
            a.set_yticks([])
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    ap.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--budget", type=float, default=90.0, help="enhance's training budget (s)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--figure", type=Path, default=None)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    rows, cases, preds = [], {}, {}
    print("| " + " | ".join(COLS) + " |\n|" + "---|" * len(COLS), flush=True)
    for cname in args.cases:
        case = make_case(cname)
        cases[cname], preds[cname] = case, {}
        base = None
        for m in args.methods:
            t0 = time.perf_counter()
            with PeakRSS() as rss:
                out = run_method(m, case, args.budget)
            row = {"case": cname, "method": m, **score(case, out, m)}
            row["seconds"], row["peak_rss_mb"] = round(time.perf_counter() - t0, 1), round(rss.peak)
            base = row["psnr"] if m == "bspline" else base
            row["gain_db"] = None if base is None else row["psnr"] - base
            rows.append(row)
            preds[cname][m] = out
            print("| " + " | ".join(_cell(row.get(c), c) for c in COLS) + " |", flush=True)
            if args.json:  # kept up to date, so a stopped run keeps what it measured
                args.json.write_text(json.dumps({"rows": rows}, indent=2, default=float))
    load = os.getloadavg()
    print(f"\nload average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs; threads {args.threads}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "load": load}, indent=2, default=float))
    if args.figure:
        figure(cases, preds, args.figure)
        print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
