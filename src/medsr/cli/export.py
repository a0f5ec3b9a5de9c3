"""``medsr export BUNDLE --onnx [-o OUT.onnx] [--int8]``: a bundle as an ONNX graph."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from medsr.cli.common import parse_series, say
from medsr.errors import ConfigError, OutputError

HELP = "export a bundle to ONNX (float32, or int8 with onnxruntime quantisation)"
DESCRIPTION = """Write a bundle's network as an ONNX graph with dynamic batch and spatial axes
(input 'lr' of shape (N, C, *S), output 'sr' of shape (N, C, *S*f)), for onnxruntime,
TensorRT or other runtimes. Inputs must be normalised as the bundle's metadata says
(normalization: (x - lo) / (hi - lo)); the bundle's JSON metadata is also written next to the
graph (OUT.json). --int8 quantises it with onnxruntime (static QDQ: int8 weights, uint8
activations whose ranges are calibrated on 8 tiles of --calibration IMAGE, or, without an
image, on smooth synthetic tiles spanning the normalised range 0-1). Calibrate on an image of
the kind you will process, and measure the accuracy cost before use.

examples:
  medsr export runs/ct_x2/model.safetensors --onnx -o ct_x2.onnx
  medsr export xray-x4 --onnx --int8 --calibration chest.dcm -o xray_x4.int8.onnx"""

log = logging.getLogger("medsr.cli.export")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", metavar="BUNDLE", help="bundle file (.safetensors) or a shipped bundle name")
    p.add_argument("--onnx", action="store_true", required=True, help="export to ONNX (the only target so far)")
    p.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="OUT.onnx",
        help="output file (default: the bundle's name with .onnx, or .int8.onnx)",
    )
    p.add_argument("--int8", action="store_true", help="quantise to int8 with onnxruntime")
    p.add_argument(
        "--calibration",
        default=None,
        metavar="IMAGE",
        help="image whose tiles calibrate int8 activation ranges (default: synthetic tiles)",
    )
    p.add_argument("--series", default=None, metavar="UID|INDEX", help="series of a DICOM folder --calibration")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")


def _calibration(args: argparse.Namespace, bundle: object) -> list:
    import numpy as np

    from medsr.engine.layout import plan_layout, to_batch
    from medsr.engine.quantize import calibration_tiles
    from medsr.intensity import Normalizer
    from medsr.io import read

    meta = bundle.meta  # type: ignore[attr-defined]
    img = read(args.calibration, series=parse_series(args.series))
    if img.channels != meta.channels:
        raise ConfigError(
            args.calibration,
            f"calibration image has {img.channels} channel(s), the bundle {meta.channels}",
            "give an image of the kind the bundle processes",
        )
    data = img.data
    if meta.normalization:  # the bundle's map; percentile windows are refitted on this image
        norm = Normalizer.from_dict(meta.normalization)
        if norm.mode == "percentile":
            norm = Normalizer.fit(img, "percentile", percentiles=norm.params.get("percentiles", (0.5, 99.5)))
        data = norm.forward(img.data).astype(np.float32)
    dims = bundle.descriptor.spatial_dims  # type: ignore[attr-defined]
    layout = plan_layout(img.shape, img.spacing, img.is_2d, dims, meta.factors)
    crop = [1, 1, 1] if layout.batch_axis is not None else [32, 32, 32]
    for a in layout.arch_axes:
        crop[a] = min(64 if layout.batch_axis is not None else 32, img.shape[a])
    return [to_batch(c, layout) for c in calibration_tiles(data, crop, n=8)]


def _synthetic_calibration(bundle: object, n: int = 8, size: int = 48) -> list:
    """Smooth random fields in 0…1 (the normalised range), one network input each."""
    import numpy as np
    from scipy import ndimage

    meta = bundle.meta  # type: ignore[attr-defined]
    dims = bundle.descriptor.spatial_dims  # type: ignore[attr-defined]
    rng = np.random.default_rng(0)
    shape = (1, meta.channels) + (size if dims == 2 else size // 2,) * dims
    out = []
    for i in range(n):
        field = ndimage.gaussian_filter(rng.random(shape), sigma=(0, 0) + (1.0 + i,) * dims)
        lo, hi = field.min(), field.max()
        out.append(((field - lo) / max(hi - lo, 1e-9)).astype(np.float32))
    return out


def run(args: argparse.Namespace) -> int:
    import json

    from medsr.engine.onnx_export import onnx_bytes
    from medsr.io.atomic import atomic_write
    from medsr.models.bundle import load_model
    from medsr.models.zoo import resolve_model

    src = resolve_model(args.bundle)
    bundle = load_model(src)
    name = src.name[: -len(".safetensors")] if src.name.endswith(".safetensors") else src.stem
    out = Path(args.output or f"{name}{'.int8' if args.int8 else ''}.onnx")
    if out.suffix != ".onnx":
        raise OutputError(out, "an ONNX export needs the suffix .onnx", "name it e.g. model.onnx")
    from medsr.io.atomic import check_outputs, register_inputs

    register_inputs([src])
    check_outputs([(out, False), (out.with_suffix(".json"), False)], overwrite=args.overwrite)
    graph = onnx_bytes(bundle, opset=args.opset)
    how = "float32"
    if args.int8:
        import tempfile

        from medsr.engine.quantize import quantize_onnx

        calib = _calibration(args, bundle) if args.calibration else _synthetic_calibration(bundle)
        with tempfile.TemporaryDirectory(prefix="medsr-export-") as tmp:
            dst = Path(tmp) / "int8.onnx"
            quantize_onnx(graph, dst, calib, mode="static")
            graph = dst.read_bytes()
        source = f"tiles of {args.calibration}" if args.calibration else "synthetic tiles"
        how = f"int8 (static, calibrated on {source})"
    atomic_write(out, graph, overwrite=args.overwrite)
    side = out.with_suffix(".json")
    atomic_write(
        side,
        json.dumps(
            {
                "bundle": str(src),
                "precision": how,
                "opset": args.opset,
                "input": "lr (N, C, *S), normalised",
                "output": "sr (N, C, *S*f)",
                "metadata": bundle.meta.to_dict(),
            },
            indent=2,
            default=str,
        ),
        overwrite=args.overwrite,
    )
    say(args, f"wrote {out} ({how}, {out.stat().st_size / 2**20:.2f} MiB) and {side}")
    return 0
