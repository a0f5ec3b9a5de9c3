"""The noise level and kind of a scan, from its own in-plane planes.

The median absolute response to Immerkær's noise operator (a Laplacian difference that cancels
locally linear structure; Immerkær, CVIU 1996) in 8×8 blocks inside the foreground, of which the
quietest quarter (flat tissue) is taken. The kind is Rician for MR magnitude images and Gaussian
otherwise. Fine texture everywhere inflates the level; regions without noise (clipped air)
outside the foreground are left out.

Example:
    >>> import numpy as np
    >>> from medsr.image import Image
    >>> vol = 100 + np.random.default_rng(0).normal(0, 5, (1, 64, 64, 8))
    >>> round(estimate_noise(Image(vol.astype(np.float32), spacing=(1, 1, 4)))["sigma"])
    5
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medsr.image import Image


def estimate_noise(image: Image, mask: np.ndarray | None = None) -> dict[str, Any]:
    """``{"kind", "sigma", "relative"}``: the noise sd in the image's units from its in-plane
    planes (see the module docstring); ``relative`` is sigma over the p1–p99 range. ``mask``: a
    foreground ``(X, Y, Z)`` already computed (default :func:`medsr.mask.training_mask`)."""
    from scipy import ndimage

    from medsr.mask import training_mask

    thick = 2 if image.is_2d else int(np.argmax(np.asarray(image.spacing, dtype=np.float64)))
    vol = np.moveaxis(np.asarray(image.data[0], dtype=np.float64), thick, 0)
    fg = np.moveaxis(training_mask(image) if mask is None else np.asarray(mask, dtype=bool), thick, 0)
    idx = np.unique(np.linspace(0, vol.shape[0] - 1, min(8, vol.shape[0])).round().astype(int))
    op = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]]) / 6.0  # unit L2 norm
    blocks = []
    for i in idx:
        if min(vol[i].shape) < 16:
            continue
        r = np.abs(ndimage.convolve(vol[i], op, mode="reflect"))[1:-1, 1:-1]
        m = fg[i][1:-1, 1:-1]
        h, w = (r.shape[0] // 8) * 8, (r.shape[1] // 8) * 8
        rb = r[:h, :w].reshape(h // 8, 8, w // 8, 8).swapaxes(1, 2).reshape(-1, 64)
        inside = m[:h, :w].reshape(h // 8, 8, w // 8, 8).swapaxes(1, 2).reshape(-1, 64).all(axis=1)
        if inside.sum() >= 4:  # inside the body: air outside a CT is often clipped and noiseless
            rb = rb[inside]
        blocks.append(np.median(rb, axis=1))
    # the quietest quarter of 8×8 blocks: flat tissue, where the operator sees noise, not edges
    # 0.587: that quantile of block medians of |N(0, 1) * operator| (simulated), so white noise reads true
    sigma = float(np.percentile(np.concatenate(blocks), 25) / 0.587) if blocks else 0.0
    lo, hi = np.percentile(vol, [1, 99])
    kind = "rician" if image.meta.modality == "MR" else "gaussian"
    return {"kind": kind, "sigma": sigma, "relative": float(sigma / max(hi - lo, 1e-12))}
