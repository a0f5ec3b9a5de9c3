"""Label-map upsampling speed and memory (issue 13 target: 100 labels, 256×256×40 → ×5 in
under 30 s and 2 GB), with the no-mixing checks.

The map is a Voronoi partition into ``--labels`` touching labels (5 mm slices, 1 mm in-plane),
the hardest case for mixing. Run: ``python benchmarks/labels.py [--labels 100] [--shape 256 256 40]``.
Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np


def label_map(n_labels: int, shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    seeds = np.zeros(shape, np.int32)
    pts = (rng.uniform(0, 1, (n_labels, 3)) * np.array(shape)).astype(int)
    seeds[tuple(pts.T)] = np.arange(1, n_labels + 1)
    _, idx = ndimage.distance_transform_edt(seeds == 0, sampling=(1.0, 1.0, 5.0), return_indices=True)
    lab = seeds[tuple(idx)]
    dist = ndimage.distance_transform_edt(seeds == 0, sampling=(1.0, 1.0, 5.0))
    lab[dist > np.percentile(dist, 70)] = 0  # some background between labels
    return lab


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--labels", type=int, default=100)
    ap.add_argument("--shape", type=int, nargs=3, default=[256, 256, 40])
    ap.add_argument("--factor", type=int, default=5)
    args = ap.parse_args()
    from medsr.classical.labels import upsample_labels
    from medsr.geometry import upsample_grid
    from medsr.image import Image

    lab = label_map(args.labels, tuple(args.shape))
    seg = Image(lab[None].astype(np.float32), spacing=(1.0, 1.0, 5.0))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    up = upsample_labels(seg, upsample_grid(seg.grid, factors=(1, 1, args.factor)))
    sec = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = up.data[0]
    f = args.factor
    exact = bool(np.array_equal(out[:, :, (f - 1) // 2 :: f], lab)) if f % 2 else None
    new = sorted(set(np.unique(out).astype(int)) - set(np.unique(lab).astype(int)))
    print("| labels | input | output | seconds | peak RSS MB (before) | exact at acquired | new values |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {args.labels} | {'×'.join(map(str, lab.shape))} | {'×'.join(map(str, out.shape))} | {sec:.1f} | "
        f"{rss:.0f} ({rss0:.0f}) | {exact} | {new or 'none'} |"
    )
    print(f"load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
