"""``medsr predict -i IN -o OUT -m BUNDLE``: apply a trained bundle to a file or a folder."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from medsr.batch import SAME_FORMAT
from medsr.cli.common import Progress, add_batch_flags, parse_series, print_table, say, sidecar_base
from medsr.cli.models import add_path_flag
from medsr.cli.seg_option import add_labels_flag, check_labels_flag, labels_outputs, read_labels, write_labels
from medsr.cli.uncertainty_option import add_uncertainty_flags, map_outputs, trust_line, wants_map, write_maps
from medsr.errors import ConfigError

HELP = "super-resolve images with a trained bundle (file or folder in, folder out; resumable, shardable)"
DESCRIPTION = """Apply a model bundle (a .safetensors file from 'medsr train', or the name of a
bundle shipped with medsr) to one image or to every image of a folder. Outputs keep the field
of view (LR voxel j becomes HR voxels j*f ... j*f+f-1) and get a JSON sidecar recording the
bundle and the settings. A warning is printed when an input's modality or spacing lies outside
what the bundle was trained on. Research use, not diagnosis.

Large jobs: --continue skips inputs whose output already exists (outputs are written
atomically, so an existing one is complete); --num-parts N --part-id K processes every N-th
input (sorted by name) starting at K, so N machines or jobs can share a folder.

examples:
  medsr predict -i lr.nii.gz -o out/ -m runs/ct_x2/model.safetensors
  medsr predict -i xrays/ -o xrays_x4/ -m xray-x4 --tile 256
  medsr predict -i scans/ -o sr/ -m model.safetensors --continue --num-parts 4 --part-id 0
  medsr predict -i photo.png -o sr/ -m rgb-x4 --backend onnx"""

log = logging.getLogger("medsr.cli.predict")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--input", metavar="IN", help="image file, DICOM folder or folder of images")
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="output folder (created); for a single input also a file name with an image suffix",
    )
    p.add_argument(
        "-m",
        "--model",
        metavar="BUNDLE",
        help="bundle file (.safetensors) or a bundle name (shipped: "
        + ", ".join(_shipped_names())
        + "; see --list-models)",
    )
    p.add_argument("--list-models", action="store_true", help="list the bundles usable by name (as 'medsr models')")
    add_path_flag(p)
    p.add_argument("--series", metavar="UID|INDEX", default=None, help="series of a DICOM folder input")
    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    p.add_argument("--tile", type=int, default=None, metavar="N", help="LR tile edge in voxels (default: the model's)")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32", help="compute precision")
    p.add_argument(
        "--backend",
        choices=("torch", "onnx", "onnx-int8"),
        default="torch",
        help="inference backend (onnx: onnxruntime float32; onnx-int8: calibrated int8)",
    )
    p.add_argument("--threads", type=int, default=None, help="intra-op CPU threads")
    p.add_argument(
        "--format",
        choices=("nifti", "nrrd", "mha", "png", "tiff"),
        default=None,
        help="output format (default: the input's; DICOM → NIfTI, JPEG → PNG)",
    )
    p.add_argument(
        "--out-dtype",
        choices=("float32", "input"),
        default="float32",
        help="output voxel type: float32 (default) or the input's type (rounded, clipped)",
    )
    p.add_argument(
        "--adapt",
        type=float,
        default=None,
        metavar="S",
        help="fine-tune the bundle on each 2D input's own downscaled copy for S seconds first (zero-data "
        "with a prior; the bundle file is unchanged; docs/enhance2d.md says when it helps)",
    )
    add_uncertainty_flags(p, optional_map=True)
    add_labels_flag(p)
    add_batch_flags(p)


# -- bundles --------------------------------------------------------------------------------------
def _shipped_names() -> list[str]:
    from medsr.models.zoo import shipped_dir

    d = shipped_dir()
    return sorted(p.name[: -len(".safetensors")] for p in d.glob("*.safetensors")) if d.is_dir() else []


# -- planning -------------------------------------------------------------------------------------
#: predict writes NIfTI for DICOM inputs (series or single files), else the input's format
SUFFIXES = {**SAME_FORMAT, "dicom-series": ".nii.gz"}


# -- running --------------------------------------------------------------------------------------
def _predict_one(src: Path, dst: Path, bundle: Any, args: argparse.Namespace, bar: Progress) -> dict[str, Any]:
    from medsr.engine.predict import predict
    from medsr.io import read, write

    img = read(src, series=parse_series(args.series) if src.is_dir() else None)
    seg = read_labels(args, img)
    options = dict(
        device=args.device,
        tile=args.tile,
        dtype=args.dtype,
        backend=args.backend,
        threads=args.threads,
        progress=lambda d, t: bar.stage(src.name, d, t),
    )
    if getattr(args, "adapt", None):
        from medsr.engine.adapt import adapt_bundle

        bundle = adapt_bundle(img, bundle, float(args.adapt), device=args.device, threads=args.threads)
    result = None
    if wants_map(args):
        from medsr.engine.uncertainty import predict_uncertainty

        result = predict_uncertainty(img, bundle, unsure_threshold=args.unsure_threshold, **options)
        sr = result.image
    else:
        sr = predict(img, bundle, **options)
    meta = bundle.meta
    record = sr.meta.history[-1] if sr.meta.history else {}
    sidecar = sidecar_base(
        "predict",
        args,
        input=str(src),
        bundle=str(bundle.path),
        bundle_name=meta.name,
        arch=meta.arch,
        factors=list(record.get("factors", meta.factors)),
        intended_use=meta.intended_use,
        prediction=record,
    )
    if "adapted" in meta.extra:
        sidecar["adapted"] = {**meta.extra["adapted"], "calibration": "the bundle's, measured before adaptation"}
    from medsr.io.atomic import Staging

    if result is not None:
        sidecar["uncertainty"] = result.info
    with Staging(overwrite=args.overwrite) as unit:
        if result is not None:
            base = lambda **f: sidecar_base("predict", args, input=str(src), bundle=str(bundle.path), **f)  # noqa: E731
            write_maps(result, dst, args, sidecar, base, unit)
        if seg is not None:
            sidecar["labels"] = str(write_labels("predict", seg, sr, dst, args, stage=unit))
        write(sr, dst, dtype=args.out_dtype, overwrite=args.overwrite, format=args.format, sidecar=sidecar, stage=unit)
    if result is not None:
        say(args, f"{src.name}: {trust_line(sidecar['uncertainty'])}")
    return {"shape": "×".join(str(s) for s in sr.shape)}


def _outputs(job: Any, args: argparse.Namespace) -> list[tuple[Path, bool]]:
    from medsr.io.sidecar import sidecar_path

    maps = map_outputs(job.output, args)
    return [*maps, *labels_outputs(job.output, args), (job.output, False), (sidecar_path(job.output), False)]


def _is_protocol(path: Path) -> bool:
    from medsr.models.bundle import read_bundle_meta

    return "enhance_plan" in read_bundle_meta(path).extra


def _run_protocol(args: argparse.Namespace, model: Path) -> int:
    """A bundle from ``enhance --save-model``: ``enhance --init BUNDLE --steps 0`` on each scan,
    with its uncertainty and data-consistency projection."""
    from medsr.batch import is_dicom_folder, output_name
    from medsr.cli import enhance

    src, out = Path(args.input), Path(args.output)
    single = not src.is_dir() or is_dicom_folder(src)
    if single and not out.suffix and args.format != "dicom":  # like predict: write into the folder
        out.mkdir(parents=True, exist_ok=True)
        out = out / output_name(src, args.format, SUFFIXES)
    fields = {**vars(args), "input": str(src), "output": str(out), "init": str(model), "steps": 0}
    fields.update(time_budget=None, spacing=None, factors=None, slice_thickness=None, profile=None, tta=True, seed=0)
    fields.update(dtype=args.out_dtype, report=None, save_model=None, uncertainty=True)  # as enhance: always the map
    ns = argparse.Namespace(**fields)
    return enhance.run(ns)


def _check_interval(args: argparse.Namespace, model_path: Path) -> None:
    """``--uncertainty-interval`` needs the bundle's calibration: refused before any work."""
    from medsr.models.bundle import read_bundle_meta

    if getattr(args, "uncertainty_interval", None) and not read_bundle_meta(model_path).extra.get("calibration"):
        raise ConfigError(
            model_path,
            "this bundle carries no expected-error calibration, so it has no interval",
            "drop --uncertainty-interval (the map is then the members' spread), or retrain it with val_crops >= 2",
        )


def run(args: argparse.Namespace) -> int:
    from medsr.batch import plan_batch, run_batch

    if args.list_models:
        from medsr.cli import models

        return models.run(argparse.Namespace(name=None, models_path=args.models_path, json=False))
    missing = [flag for flag, value in (("-i", args.input), ("-o", args.output), ("-m", args.model)) if not value]
    if missing:
        raise ConfigError(None, f"predict needs {' '.join(missing)}", "give -i IN -o OUT -m BUNDLE, or --list-models")
    from medsr.models.bundle import load_model
    from medsr.models.zoo import resolve_model

    model_path = resolve_model(args.model, args.models_path)
    if getattr(args, "adapt", None) is not None and (args.adapt <= 0 or _is_protocol(model_path)):
        raise ConfigError(
            str(model_path), f"--adapt {args.adapt:g} needs a positive time and a 2D bundle", "drop --adapt, or S > 0"
        )
    if _is_protocol(model_path):
        return _run_protocol(args, model_path)
    check_labels_flag(args)
    _check_interval(args, model_path)
    plan = plan_batch(
        args.input,
        args.output,
        fmt=args.format,
        suffixes=SUFFIXES,
        outputs_of=lambda job: _outputs(job, args),
        single_into_folder=True,
        overwrite=args.overwrite,
        resume=args.resume,
        num_parts=args.num_parts,
        part_id=args.part_id,
    )
    bundle = load_model(model_path, device="cpu")
    with Progress(args.quiet, "predict") as bar:
        summary = run_batch(plan, lambda job: _predict_one(job.source, job.output, bundle, args, bar))
    if not args.quiet and plan.batch:
        print_table(summary.rows, ("input", "status", "output"))
    say(args, summary.line(plan))
    return summary.exit_code
