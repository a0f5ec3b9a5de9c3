"""Cohort mode: fit ``enhance`` on one scan, apply the saved network to the other scans of the kind.

For each group, the scans are disjoint slabs of one real volume (the same protocol and
scanner, different anatomy), each degraded by ``../shared/referee`` and scored by it:

* ``CT``: the real chest CT (``ct/lung1_image.nrrd``, sharp axial planes declared at 0.57 mm as
  in ``benchmarks/enhance.py``), three slabs along Y, X degraded ×4;
* ``MR``: the real brain MRI (``mri/brain1_image.nrrd``), two slabs along Y, X ×4;
* ``MNI``: the MNI template, anterior and posterior halves, Z ×4.

Scan 0 of a group is fitted with the default budget and ``--save-model``. Every other scan is
then run three ways, each as the command a user types (wall time includes reading and writing):
``enhance`` (the per-scan reference), ``predict -m protocol`` (no training) and
``enhance --init protocol --time-budget T`` (fine-tuned). ``--speed`` adds the timing case of the
issue: two 256×256×40 crops of the CT at 1×1×5 mm → ×5.

Run: ``python benchmarks/cohort.py [--groups CT MR MNI] [--tune 10] [--speed]``. Prints one table
(gain over the referee's cubic B-spline in dB, the fraction of the per-scan gain kept, seconds
per scan) and writes ``results.json`` under ``--work``; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
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
GROUPS = {  # name -> (source, slab axis in (z, y, x) array order, number of slabs, referee factors)
    "CT": ("ct", 1, 3, (4, 1, 1)),
    "MR": ("mr", 1, 2, (4, 1, 1)),
    "MNI": ("mni", 1, 2, (1, 1, 4)),
}


def _referee(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, str(REFEREE), *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _volume(kind: str) -> tuple[np.ndarray, float]:
    """The HR array (z, y, x) and its (isotropic) spacing."""
    import SimpleITK as sitk

    if kind == "mni":
        img = sitk.ReadImage(str(DATA / "mri" / "mni152_t1_1mm.nii.gz"))
        return sitk.GetArrayFromImage(img).astype(np.float32), 1.0
    img = sitk.ReadImage(str(DATA / ("ct/lung1_image.nrrd" if kind == "ct" else "mri/brain1_image.nrrd")))
    a = sitk.GetArrayFromImage(img).astype(np.float32)
    a = a[:, 96:416, 48:464] if kind == "ct" else a[:, 16:240, 16:240]
    return a, float(img.GetSpacing()[0])  # slice axis declared at the in-plane spacing


def make_group(name: str, work: Path) -> list[Path]:
    """Referee cases, one per slab."""
    import SimpleITK as sitk

    kind, axis, n, factors = GROUPS[name]
    cases = [work / name / f"scan{k}" for k in range(n)]
    if all((c / "baseline.json").exists() for c in cases):
        return cases
    vol, sp = _volume(kind)
    edges = np.linspace(0, vol.shape[axis], n + 1).astype(int)
    for k, case in enumerate(cases):
        slab = np.take(vol, np.arange(edges[k], edges[k + 1]), axis=axis)
        hr = sitk.GetImageFromArray(np.ascontiguousarray(slab))
        hr.SetSpacing((sp, sp, sp))
        case.parent.mkdir(parents=True, exist_ok=True)
        path = case.parent / f"hr{k}.nii.gz"
        sitk.WriteImage(hr, str(path))
        _referee("make", str(path), str(case), "--factors", *map(str, factors))
        _referee("baseline", str(case))
    return cases


def _medsr(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "medsr.cli.main", "-q", *args], check=True)
    return time.perf_counter() - t0


def _gain(case: Path, output: Path) -> float:
    return float(_referee("score", str(case), str(output))["gain_vs_bspline_db"])


def run_group(name: str, work: Path, tune: float, budget: float | None) -> list[dict[str, Any]]:
    cases = make_group(name, work)
    out = work / name / "out"
    out.mkdir(exist_ok=True)
    model = out / "protocol.safetensors"
    extra = ["--time-budget", str(budget)] if budget else []
    rows = []
    sr0 = out / "fit0.nii.gz"
    if not sr0.exists():
        fit_s = _medsr("enhance", str(cases[0] / "lr.nii.gz"), "-o", str(sr0), "--save-model", str(model), *extra)
    else:
        fit_s = float("nan")
    rows.append({"group": name, "scan": 0, "way": "enhance + save", "gain": _gain(cases[0], sr0), "seconds": fit_s})
    for k, case in enumerate(cases[1:], start=1):
        lr = str(case / "lr.nii.gz")
        ways = {
            "enhance": ["enhance", lr, "-o", str(out / f"enh{k}.nii.gz"), *extra],
            "predict -m": ["predict", "-i", lr, "-o", str(out / f"pred{k}.nii.gz"), "-m", str(model)],
            f"--init, {tune:g} s": [
                "enhance",
                lr,
                "-o",
                str(out / f"ft{k}.nii.gz"),
                "--init",
                str(model),
                "--time-budget",
                str(tune),
            ],
        }
        for way, cmd in ways.items():
            target = Path(cmd[cmd.index("-o") + 1])
            seconds = _medsr(*cmd, "--overwrite")
            rows.append({"group": name, "scan": k, "way": way, "gain": _gain(case, target), "seconds": seconds})
    return rows


def run_speed(work: Path, tune: float) -> list[dict[str, Any]]:
    """Seconds per additional scan for 256×256×40 → ×5 (1×1×5 mm; no truth)."""
    import SimpleITK as sitk

    folder = work / "SPEED"
    folder.mkdir(parents=True, exist_ok=True)
    a = sitk.GetArrayFromImage(sitk.ReadImage(str(DATA / "ct" / "lung1_image.nrrd"))).astype(np.float32)
    for k, (y, x) in enumerate([(128, 128), (200, 60)]):
        img = sitk.GetImageFromArray(np.ascontiguousarray(a[4:44, y : y + 256, x : x + 256]))
        img.SetSpacing((1.0, 1.0, 5.0))
        sitk.WriteImage(img, str(folder / f"scan{k}.nii.gz"))
    model = folder / "protocol.safetensors"
    rows = [
        {
            "group": "SPEED",
            "scan": 0,
            "way": "enhance + save",
            "gain": float("nan"),
            "seconds": _medsr(
                "enhance",
                str(folder / "scan0.nii.gz"),
                "-o",
                str(folder / "sr0.nii.gz"),
                "--save-model",
                str(model),
                "--overwrite",
            ),
        }
    ]
    s1 = str(folder / "scan1.nii.gz")
    for way, cmd in {
        "enhance": ["enhance", s1, "-o", str(folder / "enh1.nii.gz")],
        "predict -m": ["predict", "-i", s1, "-o", str(folder / "pred1.nii.gz"), "-m", str(model)],
        f"--init, {tune:g} s": [
            "enhance",
            s1,
            "-o",
            str(folder / "ft1.nii.gz"),
            "--init",
            str(model),
            "--time-budget",
            str(tune),
        ],
        f"--init, {tune:g} s, --no-tta": [
            "enhance",
            s1,
            "-o",
            str(folder / "ftn1.nii.gz"),
            "--init",
            str(model),
            "--time-budget",
            str(tune),
            "--no-tta",
        ],
    }.items():
        rows.append(
            {"group": "SPEED", "scan": 1, "way": way, "gain": float("nan"), "seconds": _medsr(*cmd, "--overwrite")}
        )
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    ref = {(r["group"], r["scan"]): r["gain"] for r in rows if r["way"] == "enhance"}
    lines = [f"{'group':<6} {'scan':>4}  {'way':<24} {'gain dB':>8} {'kept':>6} {'s/scan':>7}"]
    for r in rows:
        base = ref.get((r["group"], r["scan"]))
        kept = f"{100 * r['gain'] / base:5.0f}%" if base and np.isfinite(r["gain"]) and r["way"] != "enhance" else ""
        gain = f"{r['gain']:+8.2f}" if np.isfinite(r["gain"]) else f"{'':>8}"
        lines.append(f"{r['group']:<6} {r['scan']:>4}  {r['way']:<24} {gain} {kept:>6} {r['seconds']:7.1f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--groups", nargs="*", default=list(GROUPS), choices=list(GROUPS))
    ap.add_argument("--tune", type=float, default=10.0, help="fine-tuning seconds for --init (default 10)")
    ap.add_argument("--budget", type=float, default=None, help="enhance budget (default: medsr's)")
    ap.add_argument("--speed", action="store_true", help="also time 256×256×40 → ×5 per additional scan")
    ap.add_argument("--work", default="/tmp/medsr_cohort")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    rows: list[dict[str, Any]] = []
    for name in args.groups:
        rows += run_group(name, work, args.tune, args.budget)
    if args.speed:
        rows += run_speed(work, args.tune)
    print(f"load average at start {load:.2f}; {os.cpu_count()} CPUs")
    print(_table(rows))
    json.dump(rows, open(work / "results.json", "w"), indent=1)


if __name__ == "__main__":
    main()
