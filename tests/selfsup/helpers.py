"""Small exact fixtures for the self-supervised SR tests: phantoms and their thick-slice versions."""

from __future__ import annotations

import numpy as np

from medsr.acquisition.profile import SliceProfile, apply_along_axis
from medsr.geometry import degrade_grid
from medsr.image import Image, ImageMeta


def phantom(shape: tuple[int, int, int] = (48, 48, 48), n_blobs: int = 40, seed: int = 0) -> np.ndarray:
    """An isotropic ``(X, Y, Z)`` volume of random ellipsoids (3–14 voxels) on a smooth
    background, values roughly 0…1000 (MRI-like, background 0 outside a sphere)."""
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij")
    c = [(n - 1) / 2 for n in shape]
    r = sum(((g - ci) / (0.48 * n)) ** 2 for g, ci, n in zip(grids, c, shape, strict=False))
    vol = np.where(r < 1, 400.0 + 100 * np.sin(grids[0] / 7) * np.cos(grids[1] / 9), 0.0).astype(np.float32)
    for _ in range(n_blobs):
        centre = [rng.uniform(0.2 * n, 0.8 * n) for n in shape]
        radii = rng.uniform(1.5, 7.0, 3)
        d = sum(((g - ci) / ri) ** 2 for g, ci, ri in zip(grids, centre, radii, strict=False))
        vol += np.float32(rng.choice([-1, 1]) * rng.uniform(100, 400)) * (d < 1) * (r < 1)
    return vol


def thick(
    hr: np.ndarray,
    axis: int,
    f: int,
    t: float,
    spacing: float = 1.0,
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> tuple[Image, Image]:
    """``(hr_image, lr_image)``: ``hr`` degraded along ``axis`` by a rect profile of ``t`` voxels
    every ``f`` voxels (the referee's model), with the field-of-view grid rule."""
    n = hr.shape[axis] - hr.shape[axis] % f
    hr = np.take(hr, np.arange(n), axis=axis).astype(np.float32)
    W = SliceProfile("rect", t * spacing).matrix(n, spacing_hr=spacing, spacing_lr=f * spacing)
    lr = apply_along_axis(hr, W, axis).astype(np.float32)
    hr_img = Image(hr[None], spacing=(spacing,) * 3, origin=origin, meta=ImageMeta(modality="MR"))
    fac = [1, 1, 1]
    fac[axis] = f
    g = degrade_grid(hr_img.grid, fac)
    return hr_img, Image.from_grid(lr[None], g, ImageMeta(modality="MR"))
