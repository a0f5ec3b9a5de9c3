"""Training pairs made from the scan's own sharp planes (SMORE's idea: Zhao et al., IEEE TMI
2021; ECLARE: Remedios et al., 2023).

Each sharp plane (both in-plane axes fine) is degraded along one of its axes with the
acquisition model of the thick axis, expressed in that axis's samples (``f`` = thick spacing /
in-plane spacing, ``t`` = thickness / in-plane spacing, non-integer allowed), then interpolated
back with the same cubic B-spline that inference uses. The pair is (interpolated, original).
Patches are returned with the degraded axis first (H), as the network sees thick-axis planes at
inference. Flips along either patch axis are physically valid (the slice profile is symmetric);
90° rotations are not (they would swap the blurred and the sharp axis), so none are made.
Patch centres are drawn inside the foreground mask.

Example:
    >>> import numpy as np
    >>> from medsr.acquisition.profile import SliceProfile
    >>> vol = np.random.default_rng(0).random((5, 40, 36)).astype(np.float32)
    >>> s = PlaneSampler(vol, {0: (4.0, 4.0), 1: (4.0, 4.0)}, SliceProfile("rect", 4.0), patch=16)
    >>> x, y = s.batch(3)
    >>> tuple(x.shape), tuple(y.shape)
    ((3, 1, 16, 16), (3, 1, 16, 16))
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from medsr.acquisition.profile import SliceProfile
from medsr.selfsup.operators import AxisOperators


def _noisy_input(sub: np.ndarray, ops: AxisOperators, axis: int, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``U (W x + e)`` along ``axis``: acquired samples with the noise the averaging removed put back."""
    W, U = ops.W.astype(np.float32), ops.U.astype(np.float32)
    lr = np.matmul(W, sub) if axis == 0 else np.matmul(sub, W.T)
    left = np.sqrt(np.clip(1.0 - np.sum(ops.W**2, axis=1), 0.0, None)).astype(np.float32) * np.float32(sigma)
    shape = [1, 1, 1]
    shape[1 + axis] = left.size
    lr += rng.standard_normal(lr.shape).astype(np.float32) * left.reshape(shape)
    return np.matmul(U, lr) if axis == 0 else np.matmul(lr, U.T)


class PlaneSampler:
    """Random (input, target) patches from the sharp planes of a volume.

    The degraded-and-interpolated copy of each sampled plane is computed once, with one large
    matrix product per axis, so a batch costs only slicing (no small products, which are slow
    on a loaded machine).

    Args:
        planes: normalised ``(N, A, B)`` array: N the thick axis, A and B sharp (used in place
            when it is contiguous float32).
        train_factors: ``{0: (f, t), 1: (f, t)}`` for degrading along A (0) and B (1), in
            samples of that axis.
        profile: slice-profile kind (its thickness is replaced by ``t``), or one profile per
            axis already in that axis's sample units (e.g. a measured kernel).
        mask: foreground ``(N, A, B)``; patch centres are drawn from it.
        patch: patch size (pixels), reduced to fit small planes.
        seed: seed of the sampler's own generator.
        max_bytes: memory for the degraded copies; beyond it an evenly spaced subset of the
            planes is used.
        exclude: planes never sampled (held out to calibrate the uncertainty map).
        noise_sigma: the scan's noise sd (normalised units). The acquisition averages the noise
            of the sharp planes away (by ``Σ w²`` per sample); that much is added back to the
            acquired samples of the training inputs, so they are as noisy as the real thick axis
            and the network neither amplifies noise nor mistakes it for detail.
    """

    def __init__(
        self,
        planes: np.ndarray,
        train_factors: dict[int, tuple[float, float]],
        profile: SliceProfile | dict[int, SliceProfile],
        mask: np.ndarray | None = None,
        patch: int = 64,
        seed: int = 0,
        max_centres: int = 1_000_000,
        max_bytes: int = 384 << 20,
        noise_sigma: float = 0.0,
        exclude: np.ndarray | None = None,
    ) -> None:
        self.planes = np.ascontiguousarray(planes, dtype=np.float32)  # (N, A, B)
        n_planes, shape = self.planes.shape[0], self.planes.shape[1:]
        self.patch = int(min(patch, shape[0], shape[1]))
        self.patch -= self.patch % 2
        per_plane = 4 * shape[0] * shape[1] * max(1, len(train_factors))
        keep = max(1, min(n_planes, max_bytes // per_plane))
        usable = np.setdiff1d(np.arange(n_planes), np.asarray([] if exclude is None else exclude, int))
        usable = usable if usable.size else np.arange(n_planes)
        pick = np.unique(np.linspace(0, usable.size - 1, min(keep, usable.size)).round().astype(int))
        self.slices = usable[pick]
        sub = self.planes[self.slices]
        self.inputs: dict[int, np.ndarray] = {}
        noise_rng = np.random.default_rng(seed + 7919)
        for axis, (f, t) in train_factors.items():
            prof = profile[axis] if isinstance(profile, dict) else replace(profile, thickness_mm=float(t))
            ops = AxisOperators.build(prof, n_hr=shape[axis], spacing_hr=1.0, spacing_lr=float(f))
            if noise_sigma > 0:
                self.inputs[axis] = _noisy_input(sub, ops, axis, noise_sigma, noise_rng)
                continue
            A = ops.A.astype(np.float32)
            self.inputs[axis] = np.matmul(A, sub) if axis == 0 else np.matmul(sub, A.T)
        self.axes = sorted(self.inputs)
        m = np.ones((len(self.slices),) + shape, bool) if mask is None else np.asarray(mask, dtype=bool)[self.slices]
        flat = m.reshape(-1)
        step = max(1, flat.size // (4 * max_centres))  # a regular subsample bounds the memory
        centres = np.flatnonzero(flat[::step]) * step
        if len(centres) == 0:
            centres = np.arange(0, flat.size, step)
        self.centres = centres[:: max(1, len(centres) // max_centres)]
        self.grid = m.shape
        self.rng = np.random.default_rng(seed)

    def _one(self, k: int, i: int, j: int, axis: int, flip_h: bool, flip_w: bool) -> tuple[np.ndarray, np.ndarray]:
        P = self.patch
        target = self.planes[self.slices[k]]
        source = self.inputs[axis][k]
        if axis == 1:  # degraded axis first
            target, source, i, j = target.T, source.T, j, i
        n, m = target.shape
        r0 = int(np.clip(i - P // 2, 0, n - P))
        c0 = int(np.clip(j - P // 2, 0, m - P))
        x, y = source[r0 : r0 + P, c0 : c0 + P], target[r0 : r0 + P, c0 : c0 + P]
        if flip_h:
            x, y = x[::-1], y[::-1]
        if flip_w:
            x, y = x[:, ::-1], y[:, ::-1]
        return x, y

    def batch(self, size: int):
        """``(input, target)``, each ``(size, 1, P, P)`` float32 tensors."""
        import torch

        pick = self.rng.integers(0, len(self.centres), size)
        axes = self.rng.integers(0, len(self.axes), size)
        flips = self.rng.random((size, 2)) < 0.5
        xs, ys = [], []
        for b in range(size):
            k, i, j = (int(v) for v in np.unravel_index(self.centres[pick[b]], self.grid))
            x, y = self._one(k, i, j, self.axes[axes[b]], bool(flips[b, 0]), bool(flips[b, 1]))
            xs.append(x)
            ys.append(y)
        return torch.from_numpy(np.stack(xs)[:, None]), torch.from_numpy(np.stack(ys)[:, None])
