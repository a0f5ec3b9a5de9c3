"""``medsr predict -i IN -o OUT -m BUNDLE``: apply a trained bundle to a file or a folder."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from medsr.cli.common import Progress, parse_series, print_table, say, sidecar_base
from medsr.errors import ConfigError, MedsrError, OutputError

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

#: input format → output suffix when the output format is not given
OUT_SUFFIX = {
    "nifti": ".nii.gz",
    "nrrd": ".nrrd",
    "mha": ".mha",
    "png": ".png",
    "tiff": ".tif",
    "jpeg": ".png",
    "dicom": ".nii.gz",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--input", required=True, metavar="IN", help="image file, DICOM folder or folder of images")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="output folder (created); for a single input also a file name with an image suffix",
    )
    p.add_argument(
        "-m",
        "--model",
        required=True,
        metavar="BUNDLE",
        help="bundle file (.safetensors) or a shipped bundle name (" + ", ".join(_shipped_names()) + ")",
    )
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
    p.add_argument("--continue", dest="resume", action="store_true", help="skip inputs whose output exists")
    p.add_argument("--num-parts", type=int, default=1, metavar="N", help="split the inputs into N parts")
    p.add_argument("--part-id", type=int, default=0, metavar="K", help="process part K (0 … N-1)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (never an input)")


# -- bundles --------------------------------------------------------------------------------------
def _bundle_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "data" / "bundles"


def _shipped_names() -> list[str]:
    d = _bundle_dir()
    return sorted(p.name[: -len(".safetensors")] for p in d.glob("*.safetensors")) if d.is_dir() else []


def bundle_path(spec: str) -> Path:
    """A bundle file, or the file of a shipped bundle called ``spec``."""
    p = Path(spec)
    if p.exists() or p.suffix:
        return p
    shipped = _bundle_dir() / f"{spec}.safetensors"
    if shipped.is_file():
        return shipped
    raise ConfigError(
        spec,
        "is neither a bundle file nor a shipped bundle",
        f"give a .safetensors path or one of: {', '.join(_shipped_names()) or 'none shipped'}",
    )


# -- planning -------------------------------------------------------------------------------------
def plan(args: argparse.Namespace) -> list[tuple[Path, Path]]:
    """``(input, output)`` pairs of this part, in sorted order (before --continue)."""
    from medsr.io.formats import detect_format, suffix_format

    if args.num_parts < 1 or not 0 <= args.part_id < args.num_parts:
        raise ConfigError(
            None, f"--part-id {args.part_id} is not within --num-parts {args.num_parts}", "use 0 <= K < N"
        )
    src, out = Path(args.input), Path(args.output)
    if not src.exists():
        raise ConfigError(src, "input does not exist", "check the path")
    single = src.is_file() or (src.is_dir() and _is_dicom_folder(src))
    if single and suffix_format(out) is not None and suffix_format(out) != "dicom":
        return [(src, out)] if args.part_id == 0 else []
    from medsr.train.data import image_stem, list_images

    inputs = [src] if single else list_images(src)
    pairs = []
    for i, path in enumerate(inputs):
        if i % args.num_parts != args.part_id:
            continue
        fmt = "dicom" if path.is_dir() else detect_format(path)
        suffix = OUT_SUFFIX[args.format] if args.format else OUT_SUFFIX.get(fmt, ".nii.gz")
        pairs.append((path, out / (image_stem(path) + suffix)))
    return pairs


def _is_dicom_folder(path: Path) -> bool:
    """A folder whose files are DICOM (a series), as opposed to a folder of images."""
    from medsr.io.formats import sniff_format, suffix_format

    files = [p for p in sorted(path.iterdir())[:20] if p.is_file() and not p.name.startswith(".")]
    if not files or any(p.is_dir() for p in path.iterdir()):
        return False
    return all(suffix_format(p) == "dicom" or (suffix_format(p) is None and sniff_format(p) == "dicom") for p in files)


# -- running --------------------------------------------------------------------------------------
def _predict_one(src: Path, dst: Path, bundle: Any, args: argparse.Namespace, bar: Progress) -> dict[str, Any]:
    from medsr.io import read, write
    from medsr.train.context import predict_any

    img = read(src, series=parse_series(args.series) if src.is_dir() else None)
    sr = predict_any(
        img,
        bundle,
        device=args.device,
        tile=args.tile,
        dtype=args.dtype,
        backend=args.backend,
        threads=args.threads,
        progress=lambda d, t: bar.stage(src.name, d, t),
    )
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
    dst.parent.mkdir(parents=True, exist_ok=True)
    path = write(sr, dst, dtype=args.out_dtype, overwrite=args.overwrite, format=args.format, sidecar=sidecar)
    return {"input": src.name, "output": str(path), "shape": "×".join(str(s) for s in sr.shape), "status": "done"}


def run(args: argparse.Namespace) -> int:
    from medsr.models.bundle import load_model

    pairs = plan(args)
    bundle = load_model(bundle_path(args.model), device="cpu")
    rows, failed = [], 0
    with Progress(args.quiet, "predict") as bar:
        for _n, (src, dst) in enumerate(pairs):
            if dst.exists() and args.resume:
                rows.append({"input": src.name, "output": str(dst), "status": "skipped (exists)"})
                continue
            if dst.exists() and not args.overwrite:
                raise OutputError(dst, "output exists", "pass --overwrite to replace it or --continue to skip it")
            try:
                rows.append(_predict_one(src, dst, bundle, args, bar))
            except MedsrError as err:
                if len(pairs) == 1:
                    raise
                failed += 1
                rows.append({"input": src.name, "output": str(dst), "status": f"failed: {err}"})
                log.error("%s: %s", src, err)
    if not args.quiet and len(pairs) > 1:
        print_table(rows, ("input", "status", "output"))
    done = sum(r["status"] == "done" for r in rows)
    say(
        args,
        f"{done} written, {len(rows) - done - failed} skipped, {failed} failed "
        f"(part {args.part_id + 1} of {args.num_parts}: {len(pairs)} input(s))",
    )
    return 2 if failed else 0
