"""Registration-based slice interpolation: warp neighbouring slices toward each other along a
deformable registration, then blend (after Penney et al., "Registration-based interpolation",
IEEE TMI 2004, and Leng et al., "Medical image interpolation based on multi-resolution
registration", Comput. Math. Appl. 2013).

For a pair of slices ``A`` (at ``t = 0``) and ``B`` (at ``t = 1``), the dense displacement
``v_AB`` with ``A(x) ≈ B(x + v_AB(x))`` and its counterpart ``v_BA`` come from scikit-image's
optical flow (``flow="tvl1"``, the default: TV-L1, Zach et al., DAGM 2007; ``"ilk"``: iterative
Lucas–Kanade, Le Besnerais and Champagnat, ICIP 2005); medsr writes no optimiser of its own. The slice at
``t`` is ``(1 − t) A(x + t v_BA(x)) + t B(x + (1 − t) v_AB(x))``: each neighbour moved the
fraction of the way that separates it from ``t``, sampled with cubic splines. Structures that
shift or grow between slices move instead of cross-fading. Acquired slices are copied exactly.

Example:
    >>> import numpy as np
    >>> a = np.zeros((32, 32), np.float32); a[10:16, 10:16] = 1.0
    >>> b = np.roll(a, 4, axis=1)                              # the square moves 4 pixels
    >>> mid = FlowInterpolator(flow="ilk")(a, b, np.array([0.5]))[0]
    >>> np.flatnonzero(mid.sum(0) > 3).tolist()                # half-way, not two ghosts
    [12, 13, 14, 15, 16, 17]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FLOW_METHODS = ("ilk", "tvl1")


@dataclass
class FlowInterpolator:
    """The pair interpolator of registration-based interpolation.

    Args:
        flow: ``tvl1`` (default; measured better than B-spline at ×5 with gaps) or ``ilk`` (faster, rougher).
        radius: the ilk window radius in pixels.
    """

    flow: str = "tvl1"
    radius: int = 7

    def displacement(self, ref: np.ndarray, moving: np.ndarray) -> np.ndarray:
        """``(2, X, Y)`` displacement ``v`` with ``ref(x) ≈ moving(x + v(x))`` (pixels)."""
        from skimage.registration import optical_flow_ilk, optical_flow_tvl1

        scale = float(np.percentile(np.abs(np.concatenate([ref.ravel(), moving.ravel()])), 99.5)) or 1.0
        r, m = ref / scale, moving / scale
        if self.flow == "tvl1":
            return np.asarray(optical_flow_tvl1(r, m), dtype=np.float32)
        return np.asarray(optical_flow_ilk(r, m, radius=self.radius), dtype=np.float32)

    def __call__(self, a: np.ndarray, b: np.ndarray, ts: np.ndarray) -> list[np.ndarray]:
        from scipy import ndimage

        v_ab, v_ba = self.displacement(a, b), self.displacement(b, a)
        grid = np.indices(a.shape, dtype=np.float32)
        ca = ndimage.spline_filter(a.astype(np.float64), order=3, mode="nearest")
        cb = ndimage.spline_filter(b.astype(np.float64), order=3, mode="nearest")
        out = []
        for t in ts:
            wa = ndimage.map_coordinates(ca, grid + t * v_ba, order=3, mode="nearest", prefilter=False)
            wb = ndimage.map_coordinates(cb, grid + (1.0 - t) * v_ab, order=3, mode="nearest", prefilter=False)
            out.append(((1.0 - t) * wa + t * wb).astype(np.float32))
        return out
