"""2D super-resolution on images from other sources than any training: B-spline, the shipped
bundle, zero-data ``enhance`` from scratch, and zero-data from the bundle (``predict --adapt``).

Each case is a high-resolution image (cropped to whole blocks) degraded with the referee's
convention (each LR pixel the mean of an ``f × f`` block, field of view kept); every method runs
as the CLI a user would type, in its own process, timed (wall) with its peak RSS, and is scored
by :func:`medsr.evaluation.evaluate` (the referee's mask, range and borders) against the HR
image. Gains are over cubic B-spline in dB; SSIM beside. RGB LR images are written as 8-bit PNG
(as photographs are), CT read from DICOM as a DICOM slice in HU (as the scanner gave it; medsr
then knows the modality), other grey ones as float NRRD.

Images (none trained on by any shipped bundle unless the ``trained`` column says so):

======================  ==================================================================  =======
case                    image (licence)                                                       trained
======================  ==================================================================  =======
``ct693`` CT ×2         pydicom-data 1.0.0 ``693_UNCR.dcm``, axial CT, STANDARD kernel (MIT)  no
``ctlung2`` CT ×2       pyradiomics 3.0.1 ``lung2_image.nrrd``, middle slice (BSD-3)           bundle
``xray-rg3`` X-ray ×4   pydicom-data ``RG3_UNCR.dcm`` (CR, leg), 1400² centre (MIT)            no
``he-tcia`` H&E ×4      stardist 0.9.2 ``data/images/histo.jpg`` (TCIA H&E; BSD-3)              no
``ihc`` IHC ×4          scikit-image ``data.immunohistochemistry()`` (public domain)           bundle
``fundus`` fundus ×4    scikit-image ``retina.jpg`` (CC0), 1408² (2 Mpixel output)             no
======================  ==================================================================  =======

``bundle``: the shipped bundle was trained on this very image (``scripts/train_shipped_bundles.py
--registry``), so only the zero-data column is unseen there. The fundus photograph is only in
the bundle's validation (its right 25 %), never in its training.

Run (files from the registries; see docs/enhance2d.md for where each comes from)::

    python benchmarks/enhance2d.py --images DIR [--cases ct693 xray-rg3] [--adapt 10] [--budget 30]

``DIR`` holds ``693_UNCR.dcm``, ``RG3_UNCR.dcm``, ``lung2_image.nrrd`` and ``histo.jpg``;
``../shared/data`` and scikit-image give the rest. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MEDSR_SHARED", REPO.parent / "shared"))

#: case -> (file or loader key, factor, bundle, trained-on note)
CASES: dict[str, tuple[str, int, str, str]] = {
    "ct693": ("693_UNCR.dcm", 2, "ct-inplane-x2", "no"),
    "ctlung2": ("lung2_image.nrrd", 2, "ct-inplane-x2", "bundle"),
    "xray-rg3": ("RG3_UNCR.dcm", 4, "xray-x4", "no"),
    "he-tcia": ("histo.jpg", 4, "rgb-x4", "no"),
    "ihc": ("skimage:immunohistochemistry", 4, "rgb-x4", "bundle"),
    "fundus": ("shared:rgb/fundus_retina.jpg", 4, "rgb-x4", "no"),
}


def load_hr(spec: str, images: Path) -> Any:
    """The HR image of a case as a 2D :class:`medsr.image.Image`."""
    import medsr
    from medsr.image import Image, ImageMeta

    if spec.startswith("skimage:"):
        from skimage import data

        arr = np.asarray(getattr(data, spec.split(":", 1)[1])(), np.float32)  # (rows, cols, 3)
        return Image(np.moveaxis(arr, -1, 0).swapaxes(1, 2)[..., None].copy(), meta=ImageMeta(spatial_dims=2, rgb=True))
    path = SHARED / "data" / spec.split(":", 1)[1] if spec.startswith("shared:") else images / spec
    img = medsr.read(path)
    if not img.is_2d:  # a CT volume: its middle axial slice
        z = img.shape[2] // 2
        meta = img.with_data(img.data).meta
        meta.spatial_dims = 2
        img = Image(np.ascontiguousarray(img.data[..., z : z + 1]), spacing=img.spacing, meta=meta)
    data = img.data
    if spec == "RG3_UNCR.dcm":  # the centre 1400 × 1400 (a 2 Mpixel output at ×4)
        x0, y0 = (img.shape[0] - 1400) // 2, (img.shape[1] - 1400) // 2
        data = data[:, x0 : x0 + 1400, y0 : y0 + 1400]
    meta = img.with_data(img.data).meta
    meta.spatial_dims = 2
    return Image(np.ascontiguousarray(data), spacing=img.spacing, meta=meta)  # a plain 2D image: identity axes


def degrade(hr: Any, f: int) -> tuple[Any, Any]:
    """(HR cropped to whole blocks, LR): block means, the field-of-view grid."""
    from medsr.geometry import Grid, degrade_grid

    c, x, y = hr.channels, hr.shape[0] - hr.shape[0] % f, hr.shape[1] - hr.shape[1] % f
    data = np.ascontiguousarray(hr.data[:, :x, :y], dtype=np.float32)
    hr = hr.with_data(data, grid=Grid((x, y, 1), hr.spacing, hr.grid.origin, hr.grid.direction))
    lr = data.reshape(c, x // f, f, y // f, f, 1).mean(axis=(2, 4))
    return hr, hr.with_data(lr.astype(np.float32), grid=degrade_grid(hr.grid, (f, f, 1)))


def run_cli(args: list[str]) -> tuple[float, float, bool]:
    """Run ``medsr ARGS`` in its own process → (wall s, peak RSS MiB, done); a refusal (exit 2,
    e.g. an image too small for zero-data) is ``done=False``; any other failure raises."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "medsr", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read().decode() if proc.stdout else ""
    code = os.waitstatus_to_exitcode(status)
    if code == 2:
        print(f"refused: medsr {' '.join(args[:2])}: {out.strip().splitlines()[-1]}", file=sys.stderr)
    elif code != 0:
        raise RuntimeError(f"medsr {' '.join(args)} failed:\n{out}")
    return time.perf_counter() - t0, usage.ru_maxrss / 1024, code == 0


def methods(lr: Path, out: Path, f: int, bundle: str, adapt: float, budget: float | None) -> dict[str, list[str]]:
    sfx = lr.suffix or ".nrrd"  # a DICOM folder's outputs are NRRD
    pred = ["predict", "-i", str(lr), "-m", bundle, "-q", "-o"]
    zd = ["enhance", str(lr), "-o", str(out / f"zero{sfx}"), "--factors", str(f), str(f), "-q"]
    return {
        "bspline": ["upsample", str(lr), str(out / f"bs{sfx}"), "--factors", str(f), str(f), "--method", "bspline"],
        "bundle": [*pred, str(out / f"bundle{sfx}")],
        "zero-data": zd + ([] if budget is None else ["--time-budget", str(budget)]),
        "adapted": [*pred, str(out / f"adapted{sfx}"), "--adapt", str(adapt)],
    }


def map_quality(hr: Any, sr: Any, path: Path, f: int) -> dict[str, str]:
    """How the zero-data expected-error map reads against the true error inside the referee's
    mask: Spearman's rank correlation and mean expected / mean observed |error|."""
    from scipy.stats import spearmanr

    import medsr
    from medsr.metrics import exclude_borders, reference_mask

    unc = medsr.read(path).data.max(axis=0)
    err = np.abs(sr.data - hr.data).max(axis=0)
    m = exclude_borders(reference_mask(hr), (f, f, 1))
    rho = spearmanr(unc[m][::7], err[m][::7])[0]
    return {"map_rho": f"{rho:.2f}", "map_ratio": f"{unc[m].mean() / max(err[m].mean(), 1e-12):.2f}"}


def one_case(name: str, images: Path, adapt: float, budget: float | None, work: Path) -> dict[str, Any]:
    import medsr
    from medsr.evaluation import evaluate

    spec, f, bundle, trained = CASES[name]
    hr, lr = degrade(load_hr(spec, images), f)
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    if lr.meta.rgb:
        lr = lr.with_data(np.clip(np.round(lr.data), 0, 255).astype(np.float32))
        lr_path = medsr.write(lr, folder / "lr.png", dtype="uint8", overwrite=True)
    elif lr.meta.modality == "CT" and lr.meta.source_format == "dicom":  # as the scanner gave it, in HU
        lr_path = medsr.write(lr, folder / "lr_dicom", format="dicom", overwrite=True)
    else:
        lr_path = medsr.write(lr, folder / "lr.nrrd", dtype="float32", overwrite=True)
    row: dict[str, Any] = {"case": name, "factor": f, "output": "×".join(map(str, hr.shape[:2])), "trained": trained}
    preds, names = [], []
    for method, cli in methods(lr_path, folder, f, bundle, adapt, budget).items():
        wall, rss, done = run_cli(cli)
        row[f"{method}_s"], row[f"{method}_mib"] = round(wall, 1), round(rss)
        row[method] = "—" if done else "refused"
        if done:
            preds.append(medsr.read(cli[2] if method == "bspline" else cli[cli.index("-o") + 1]))
            names.append(method)
    scores = evaluate(hr, preds, names=names, factors=(f, f, 1))["predictions"]
    if "zero-data" in names:
        row.update(map_quality(hr, preds[names.index("zero-data")], folder / "zero_uncertainty.nrrd", f))
    base = scores["bspline"]["psnr"]
    row["bspline"] = f"{base:.2f}/{scores['bspline']['ssim']:.3f}"
    for method in names[1:]:
        s = scores[method]
        row[method] = f"{s['psnr'] - base:+.2f}/{s['ssim']:.3f}"
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=Path, required=True, help="folder with the registry images (see the docstring)")
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    p.add_argument("--adapt", type=float, default=10.0, help="seconds of predict --adapt (default 10)")
    p.add_argument("--budget", type=float, default=None, help="enhance --time-budget (default: enhance's 2D default)")
    p.add_argument("--work", type=Path, default=None, help="keep the images here (default: a temporary folder)")
    args = p.parse_args(argv)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        rows = [one_case(c, args.images, args.adapt, args.budget, work) for c in args.cases]
    cols = ["case", "factor", "output", "trained", "bspline", "bundle", "zero-data", "adapted"]
    cols += ["zero-data_s", "zero-data_mib", "adapted_s", "adapted_mib", "bundle_s", "bspline_s"]
    cols += ["map_rho", "map_ratio"]
    print(f"gain over cubic B-spline dB / SSIM; wall s and peak RSS MiB per process; load {load:.2f} at start")
    print("map_rho / map_ratio: the zero-data uncertainty map's Spearman with |error| and mean expected / observed")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    print(f"load {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
