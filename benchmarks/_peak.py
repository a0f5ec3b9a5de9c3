"""Measured matrix-multiply peak of this machine (GFLOP/s), the yardstick for benchmarks/predict.py.

Two measurements per dtype, best of ``repeats`` runs of an ``n × n`` product on ``threads``
threads:

* ``matmul``: ``torch.matmul`` (MKL sgemm for float32; oneDNN for bfloat16);
* ``onednn``: the same GEMM as a 1×1 convolution in channels-last layout, i.e. through oneDNN,
  the library that runs medsr's convolutions (on AMD CPUs MKL's sgemm may not use its
  AVX-512 path, so the two can differ by 2×).

Run: ``python benchmarks/_peak.py [--threads 2] [--n 2048]``. It prints a table and asserts
nothing.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable


def _best(fn: Callable[[], object], repeats: int) -> float:
    fn()
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def matmul_peak(dtype: str = "float32", n: int = 2048, threads: int = 2, repeats: int = 7) -> float:
    """GFLOP/s of ``torch.matmul`` on two ``n × n`` matrices."""
    import torch

    torch.set_num_threads(threads)
    dt = getattr(torch, dtype)
    a, b = torch.randn(n, n, dtype=dt), torch.randn(n, n, dtype=dt)
    with torch.inference_mode():
        t = _best(lambda: a @ b, repeats)
    return 2.0 * n**3 / t / 1e9


def onednn_peak(dtype: str = "float32", n: int = 2048, threads: int = 2, repeats: int = 7) -> float:
    """GFLOP/s of an ``(n·n) = (n × n)(n × n)`` GEMM run as a channels-last 1×1 convolution."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    dt = getattr(torch, dtype)
    x = torch.randn(1, n, n // 32, 32, dtype=dt).contiguous(memory_format=torch.channels_last)
    w = torch.randn(n, n, 1, 1, dtype=dt)
    with torch.inference_mode():
        t = _best(lambda: F.conv2d(x, w), repeats)
    return 2.0 * n**3 / t / 1e9


def peaks(threads: int = 2, n: int = 2048, repeats: int = 7) -> dict[str, float]:
    """``{"float32": best, "bfloat16": best, "<dtype>/<method>": each}`` in GFLOP/s."""
    out: dict[str, float] = {}
    for dt in ("float32", "bfloat16"):
        for name, fn in (("matmul", matmul_peak), ("onednn", onednn_peak)):
            out[f"{dt}/{name}"] = fn(dt, n, threads, repeats)
        out[dt] = max(out[f"{dt}/matmul"], out[f"{dt}/onednn"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    p = peaks(args.threads, args.n, args.repeats)
    print(f"matmul peak, {args.n}x{args.n}, {args.threads} threads, best of {args.repeats}")
    print(f"{'dtype':<10}{'torch.matmul':>14}{'oneDNN 1x1':>12}{'peak':>8}  GFLOP/s")
    for dt in ("float32", "bfloat16"):
        print(f"{dt:<10}{p[dt + '/matmul']:>14.1f}{p[dt + '/onednn']:>12.1f}{p[dt]:>8.1f}")


if __name__ == "__main__":
    main()
