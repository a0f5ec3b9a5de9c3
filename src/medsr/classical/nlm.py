"""Non-local upsampling with a re-degradation constraint (Manjón et al., "Non-local MRI
upsampling", Medical Image Analysis 14(6), 2010).

Start from cubic B-spline interpolation, then alternate:

1. a non-local means filter of the current estimate (Buades et al., CVPR 2005): every voxel
   becomes the average of the voxels whose surrounding patches look like its own, found anywhere
   in a search cube; the patches come from all three directions, so sharp in-plane structure
   also sharpens the thick axis;
2. the re-degradation (mean) constraint: the estimate is projected onto the set of images that
   reproduce the acquired voxels through medsr's acquisition model,
   ``x ← x + P (y − W x)`` (:mod:`medsr.acquisition.consistency`; for rect slices this adds the
   residual of each acquired voxel to every fine voxel it covers, as in the paper).

The filter strength ``h`` starts at ``h0`` times the image's robust grey range and shrinks by
``decay`` each iteration, so the first passes regularise and the last ones refine. The filter
is scikit-image's ``denoise_nl_means`` (fast mode, Darbon et al. 2008). The output reproduces
the input through ``W`` (data consistency to float rounding).

Example:
    >>> import numpy as np
    >>> from medsr.image import Image
    >>> from medsr.geometry import upsample_grid
    >>> rng = np.random.default_rng(0)
    >>> lr = Image(rng.random((1, 12, 12, 4)).astype(np.float32), spacing=(1, 1, 3))
    >>> up = nlm_upsample(lr, upsample_grid(lr.grid, factors=(1, 1, 3)), NLMConfig(iterations=1))
    >>> up.shape, bool(np.allclose(up.data[0].reshape(12, 12, 4, 3).mean(-1), lr.data[0], atol=1e-4))
    ((12, 12, 12), True)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from medsr.acquisition.consistency import along, consistency_projector
from medsr.acquisition.profile import SliceProfile
from medsr.geometry import Grid
from medsr.image import Image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NLMConfig:
    """Parameters of :func:`nlm_upsample` (defaults measured on MNI ×4, docs/comparison.md).

    Args:
        iterations: filter-and-project rounds.
        h0: first filter strength, as a fraction of the robust range p0.1–p99.9.
        decay: factor on ``h`` after each round.
        patch: patch side (voxels).
        search: search radius (voxels): a cube of ``2 search + 1`` voxels a side.
        profile: ``rect`` or ``gaussian`` slice profile of the acquisition (thickness: the
            image's slice thickness along Z, else its spacing).
    """

    iterations: int = 5
    h0: float = 0.06
    decay: float = 0.6
    patch: int = 3
    search: int = 3
    profile: str = "rect"


def acquisition_operators(image: Image, grid: Grid, profile: str = "rect") -> dict[int, np.ndarray]:
    """Per axis the output grid refines, the ``(n_in, n_out)`` acquisition ``W`` (rows sum to 1).

    The slice thickness is ``meta.slice_thickness`` along Z, else the input spacing (contiguous).
    """
    ops = {}
    for a in range(3):
        if grid.shape[a] == image.shape[a] and np.isclose(grid.spacing[a], image.spacing[a]):
            continue
        thick = float(image.spacing[a])
        if a == 2 and image.meta.slice_thickness:
            thick = float(image.meta.slice_thickness)
        W = SliceProfile(profile, thick).matrix(
            grid.shape[a], float(grid.spacing[a]), float(image.spacing[a]), n_lr=image.shape[a]
        )
        ops[a] = W
    return ops


def _project(x: np.ndarray, y: np.ndarray, W: dict[int, np.ndarray], P: dict[int, np.ndarray]) -> np.ndarray:
    """``x + P (y − W x)`` with the separable ``W = ⊗ W_a`` and its pseudo-inverse ``⊗ P_a``."""
    r = x
    for a, Wa in W.items():
        r = along(Wa, r, a)
    r = y - r
    for a, Pa in P.items():
        r = along(Pa, r, a)
    return x + r


def nlm_upsample(
    image: Image, grid: Grid, config: NLMConfig | None = None, progress: Callable[[int, int], None] | None = None
) -> Image:
    """``image`` (C, X, Y, Z) super-resolved onto ``grid`` (same direction, finer) by non-local
    upsampling; float32, same units."""
    from skimage.restoration import denoise_nl_means

    from medsr.baselines import resample_to_grid

    cfg = config or NLMConfig()
    W = acquisition_operators(image, grid, cfg.profile)
    P = {a: consistency_projector(Wa) for a, Wa in W.items()}
    x = resample_to_grid(image, grid, "bspline").data.astype(np.float64)
    lo, hi = np.percentile(image.data, [0.1, 99.9])
    scale = float(hi - lo) or 1.0
    channels = []
    for c in range(image.channels):
        y = image.data[c].astype(np.float64)
        xc = _project(x[c], y, W, P)
        for k in range(cfg.iterations):
            h = cfg.h0 * cfg.decay**k
            planar = xc.shape[2] == 1  # a 2D image is filtered in 2D
            filt = denoise_nl_means(
                ((xc[..., 0] if planar else xc) - lo) / scale,
                patch_size=cfg.patch,
                patch_distance=cfg.search,
                h=h,
                fast_mode=True,
            )
            filt = np.asarray(filt, np.float64).reshape(xc.shape)
            xc = _project(filt * scale + lo, y, W, P)
            log.debug("nlm round %d/%d: h = %.4g", k + 1, cfg.iterations, h)
            if progress:
                progress(c * cfg.iterations + k + 1, image.channels * cfg.iterations)
        channels.append(xc.astype(np.float32))
    out = image.with_data(np.stack(channels), grid=grid)
    out.meta.history.append({"op": "nlm", **cfg.__dict__})
    return out
