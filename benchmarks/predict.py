"""Throughput of medsr architectures per backend: Mvoxel/s of output, GFLOP/s, % of matmul peak.

For each architecture (random weights; speed does not depend on them) and backend — torch
float32, torch bfloat16 (autocast), onnxruntime float32, onnxruntime int8 (static QDQ,
calibrated on 8 tiles) — it times

* ``tile``: one network call on a haloed tile, exactly as the engine makes it (channels-last,
  zero padding inside the halo, tied weights baked), best of ``--repeats``;
* ``image``: the engine (:func:`medsr.engine.runner.run_tiled`, as ``predict`` calls it) over a
  whole synthetic image: reflection padding, tiling, the network, stitching (one run),

and reports output Mvoxel/s, GFLOP/s (convolution FLOPs counted by
``torch.utils.flop_counter.FlopCounterMode``, 2 per multiply-add) and the percentage of the
matmul peak of ``benchmarks/_peak.py`` (float32 rows against the float32 peak, bf16 against
bf16, int8 against float32): ``% now`` against the oneDNN GEMM peak measured just before the row
(the machine is shared, so load varies), ``% best`` against the best peak seen in the run.
``PSNR`` is the int8/bf16 output against float32 in the [0, 1] working range.
Targets: ``fast`` ≥ 20 Mvoxel/s for 2D ×2; ``strong`` ≥ 50 % of the
float32 peak.

Run: ``python benchmarks/predict.py [--threads 2] [--archs fast strong] [--repeats 3]``.
Prints a table; asserts nothing. On a machine whose cores are busy with other work, prefix
``OMP_WAIT_POLICY=PASSIVE``: torch's OpenMP threads otherwise spin at every barrier while a
peer thread is descheduled, which made small-op networks 10-30× slower in our measurements
(onnxruntime's own thread pool is not affected).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peak import _best, onednn_peak, peaks  # noqa: E402

#: arch -> (factors, LR tile core edge, LR image shape for predict)
CASES: dict[str, tuple[tuple[int, ...], int, tuple[int, int, int]]] = {
    "fast": ((2, 2), 256, (1024, 1024, 1)),
    "strong": ((2, 2), 192, (384, 384, 1)),
    "fast3d": ((1, 1, 4), 48, (96, 96, 24)),
    "rdn3d": ((1, 1, 4), 32, (64, 64, 16)),
}
BACKENDS = ("torch-fp32", "torch-bf16", "ort-fp32", "ort-int8")


def phantom(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """A (1, X, Y, Z) test object in 0…1: smooth background, discs/spheres, fine stripes."""
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    img = 0.3 + 0.1 * np.sin(3 * grids[0]) * np.cos(2 * grids[1])
    for _ in range(12):
        c = rng.uniform(-0.7, 0.7, 3)
        r = rng.uniform(0.05, 0.3)
        d2 = sum((g - ci) ** 2 for g, ci in zip(grids, c, strict=False))
        img = img + rng.uniform(0.1, 0.4) * (d2 < r * r)
    img = img + 0.05 * np.sin(40 * grids[0] + 25 * grids[1])
    return (img / img.max())[None].astype(np.float32)


def _flops(model: Any, x: np.ndarray) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(torch.from_numpy(x))
    return float(fc.get_total_flops())


def _psnr(a: np.ndarray, ref: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - ref) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def _bundle(arch: str, factors: tuple[int, ...]) -> Any:
    import torch

    from medsr.models.bundle import Bundle
    from medsr.models.bundle_meta import BundleMeta
    from medsr.models.registry import build, get_arch

    torch.manual_seed(0)
    net = build(arch, in_channels=1, factors=factors).eval()
    with torch.no_grad():
        net.tail.weight.normal_(0, 0.02)
    meta = BundleMeta(arch=arch, factors=factors, channels=1, arch_kwargs=dict(net.config))
    return Bundle(net, meta, get_arch(arch), None)


def _block_fn(bundle: Any, layout: Any, backend: str, calib: list[np.ndarray], threads: int) -> Callable:
    from medsr.engine.onnx_backend import OnnxBlockFn
    from medsr.engine.onnx_export import onnx_bytes
    from medsr.engine.quantize import quantize_onnx
    from medsr.engine.torch_backend import TorchBlockFn, prepare_model

    if backend.startswith("torch"):
        model = prepare_model(bundle.model, zero_padding=True)
        return TorchBlockFn(model, layout=layout, dtype="bfloat16" if backend.endswith("bf16") else "float32")
    data = onnx_bytes(bundle, zero_padding=True)
    if backend == "ort-int8":
        with tempfile.TemporaryDirectory() as tmp:
            data = quantize_onnx(data, Path(tmp) / "q.onnx", calib).read_bytes()
    return OnnxBlockFn(data, layout=layout, threads=threads)


def bench_arch(arch: str, backends: tuple[str, ...], repeats: int, threads: int, pk: dict[str, float]) -> list[dict]:
    from medsr.engine.layout import plan_layout, to_batch
    from medsr.engine.quantize import calibration_tiles
    from medsr.engine.runner import run_tiled

    factors, tile, shape = CASES[arch]
    bundle = _bundle(arch, factors)
    d = bundle.descriptor
    is2d = shape[2] == 1
    layout = plan_layout(shape, (1.0, 1.0, 4.0 if not is2d and factors[-1] > 1 else 1.0), is2d, d.spatial_dims, factors)
    h = int(bundle.model.halo)
    img = phantom(shape)
    edge = tile + 2 * h
    tshape = [1, 1, 1]
    for a in layout.arch_axes:
        tshape[a] = min(edge, shape[a] + 2 * h)
    block = np.ascontiguousarray(
        np.pad(img, [(0, 0)] + [(h, h) if a in layout.arch_axes else (0, 0) for a in range(3)], mode="reflect")[
            (slice(None),) + tuple(slice(0, t) for t in tshape)
        ]
    )
    flops = _flops(bundle.model, to_batch(block, layout))
    out_vox = int(np.prod(block.shape[1:])) * int(np.prod(layout.scale))
    crop = [1, 1, 1]
    for a in layout.arch_axes:
        crop[a] = 64 if is2d else 32
    calib = [to_batch(c, layout) for c in calibration_tiles(img, crop, n=8)]
    tiles3 = [tile if a in layout.arch_axes else 1 for a in range(3)]
    halo3 = [h if a in layout.arch_axes else 0 for a in range(3)]
    n_img_out = int(np.prod(shape)) * int(np.prod(layout.scale))
    ref_out = None
    rows = []
    for be in backends:
        fn = _block_fn(bundle, layout, be, calib, threads)
        dt = "bfloat16" if be == "torch-bf16" else "float32"
        now = onednn_peak(dt, 2048, threads, 3)  # the peak under the same machine load
        pk[dt] = max(pk[dt], now)
        t_tile = _best(lambda fn=fn: fn(block), repeats)
        t0 = time.perf_counter()
        out = run_tiled(fn, img, layout.scale, tile=tiles3, halo=halo3)
        t_img = time.perf_counter() - t0
        if ref_out is None:
            ref_out = out
        gflops = flops / t_tile / 1e9
        rows.append(
            {
                "arch": arch,
                "factors": "x".join(map(str, factors)),
                "backend": be,
                "tile": "x".join(str(t) for t in block.shape[1:]),
                "ms": 1e3 * t_tile,
                "mvox_tile": out_vox / t_tile / 1e6,
                "mvox_img": n_img_out / t_img / 1e6,
                "gflops": gflops,
                "pct_now": 100 * gflops / now,
                "pct_best": 100 * gflops / pk[dt],
                "psnr": _psnr(out, ref_out) if be != backends[0] else float("nan"),
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--archs", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=list(BACKENDS))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    pk = peaks(args.threads, 2048, 5)
    print(
        f"peak GFLOP/s ({args.threads} threads): float32 {pk['float32']:.0f} "
        f"(torch.matmul {pk['float32/matmul']:.0f}, oneDNN {pk['float32/onednn']:.0f}); "
        f"bfloat16 {pk['bfloat16']:.0f}"
    )
    print(
        f"load average at start: {os.getloadavg()[0]:.2f} (a busy machine lowers every number; "
        "'% now' divides by the oneDNN peak measured just before the row); "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}"
    )
    head = (
        f"{'arch':<8}{'factors':<8}{'backend':<12}{'tile(LR+halo)':<15}{'ms/tile':>9}"
        f"{'Mvox/s tile':>12}{'Mvox/s image':>13}{'GFLOP/s':>9}{'% now':>7}{'% best':>8}{'PSNR dB':>9}"
    )
    print(head)
    print("-" * len(head))
    for arch in args.archs:
        for r in bench_arch(arch, tuple(args.backends), args.repeats, args.threads, pk):
            print(
                f"{r['arch']:<8}{r['factors']:<8}{r['backend']:<12}{r['tile']:<15}{r['ms']:>9.1f}"
                f"{r['mvox_tile']:>12.1f}{r['mvox_img']:>13.1f}{r['gflops']:>9.1f}{r['pct_now']:>7.1f}"
                f"{r['pct_best']:>8.1f}{r['psnr']:>9.1f}",
                flush=True,
            )
    print(
        f"best peaks seen: float32 {pk['float32']:.0f}, bfloat16 {pk['bfloat16']:.0f} GFLOP/s; "
        f"load average at end: {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
