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

A 2D image (``joint=True``; ZSSR's idea: Shocher et al., CVPR 2018) is degraded along both axes
at once, as its pixels were acquired: each channel is one plane, its downscaled copy the input.
The input is interpolated back (the plane network) or, with ``lowres=True``, kept on the coarse
grid for networks that upsample themselves (a bundle being adapted); there the factors must be
integers and patches are block-aligned. Where both axes share the factor, transposes join the
flips (the whole dihedral group).

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

#: The key of the one input of a jointly degraded plane (``joint=True``).
JOINT = -1


def _joint_input(
    sub: np.ndarray, ops: list[AxisOperators], sigma: float, rng: np.random.Generator, upsample: bool
) -> np.ndarray:
    """``U0 (W0 x W1ᵀ + e) U1ᵀ`` (or without the ``U``): both axes acquired, with the noise the
    averaging removed put back (sd ``sigma`` in every acquired sample, as in the image)."""
    (W0, W1), (U0, U1) = ([o.W.astype(np.float32) for o in ops], [o.U.astype(np.float32) for o in ops])
    lr = np.matmul(np.matmul(W0, sub), W1.T)
    if sigma > 0:
        kept = np.outer(np.sum(ops[0].W ** 2, axis=1), np.sum(ops[1].W ** 2, axis=1))
        left = (np.sqrt(np.clip(1.0 - kept, 0.0, None)) * sigma).astype(np.float32)
        lr += rng.standard_normal(lr.shape).astype(np.float32) * left[None]
    return np.matmul(np.matmul(U0, lr), U1.T) if upsample else np.ascontiguousarray(lr)


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
        joint: bool = False,
        lowres: bool = False,
        stack: bool = False,
    ) -> None:
        self.stack = stack  # every plane of the array in each patch, as channels (a C-channel network)
        self.lowres = (1, 1)
        if lowres:
            planes, mask = _block_crop(planes, mask, train_factors)
            self.lowres = (int(round(train_factors[0][0])), int(round(train_factors[1][0])))
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
        all_ops = {}
        for axis, (f, t) in train_factors.items():
            prof = profile[axis] if isinstance(profile, dict) else replace(profile, thickness_mm=float(t))
            ops = all_ops[axis] = AxisOperators.build(prof, n_hr=shape[axis], spacing_hr=1.0, spacing_lr=float(f))
            if joint:
                continue
            if noise_sigma > 0:
                self.inputs[axis] = _noisy_input(sub, ops, axis, noise_sigma, noise_rng)
                continue
            A = ops.A.astype(np.float32)
            self.inputs[axis] = np.matmul(A, sub) if axis == 0 else np.matmul(sub, A.T)
        if joint:
            self.inputs[JOINT] = _joint_input(sub, [all_ops[0], all_ops[1]], noise_sigma, noise_rng, not lowres)
        self.transpose = joint and train_factors[0] == train_factors[1]  # square patches
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
        target = self.planes[self.slices[k]] if not self.stack else self.planes[self.slices].transpose(1, 2, 0)
        source = self.inputs[axis][k] if not self.stack else self.inputs[axis].transpose(1, 2, 0)
        if self.lowres != (1, 1):
            return self._block(target, source, i, j, flip_h, flip_w)
        if axis == 1:  # degraded axis first
            target, source, i, j = target.T, source.T, j, i
        n, m = target.shape[:2]
        r0 = int(np.clip(i - P // 2, 0, n - P))
        c0 = int(np.clip(j - P // 2, 0, m - P))
        x, y = source[r0 : r0 + P, c0 : c0 + P], target[r0 : r0 + P, c0 : c0 + P]
        if flip_h:
            x, y = x[::-1], y[::-1]
        if flip_w:
            x, y = x[:, ::-1], y[:, ::-1]
        return x, y

    def _block(
        self, target: np.ndarray, source: np.ndarray, i: int, j: int, flip_h: bool, flip_w: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """A block-aligned coarse input patch and its fine target (``lowres``)."""
        (fa, fb), P = self.lowres, self.patch
        pa, pb = max(1, P // fa), max(1, P // fb)
        r0 = int(np.clip(i // fa - pa // 2, 0, source.shape[0] - pa))
        c0 = int(np.clip(j // fb - pb // 2, 0, source.shape[1] - pb))
        x = source[r0 : r0 + pa, c0 : c0 + pb]
        y = target[r0 * fa : (r0 + pa) * fa, c0 * fb : (c0 + pb) * fb]
        if flip_h:
            x, y = x[::-1], y[::-1]
        if flip_w:
            x, y = x[:, ::-1], y[:, ::-1]
        return x, y

    def batch(self, size: int):
        """``(input, target)``, each ``(size, 1, P, P)`` float32 tensors (``(size, N, …)`` with
        ``stack``; the input ``P / f`` wide with ``lowres``)."""
        import torch

        pick = self.rng.integers(0, len(self.centres), size)
        axes = self.rng.integers(0, len(self.axes), size)
        flips = self.rng.random((size, 3 if self.transpose else 2)) < 0.5  # 3D streams unchanged
        xs, ys = [], []
        for b in range(size):
            k, i, j = (int(v) for v in np.unravel_index(self.centres[pick[b]], self.grid))
            x, y = self._one(k, i, j, self.axes[axes[b]], bool(flips[b, 0]), bool(flips[b, 1]))
            if self.transpose and flips[b, 2]:
                x, y = x.swapaxes(0, 1), y.swapaxes(0, 1)
            xs.append(x)
            ys.append(y)
        if self.stack:  # (size, P, P, C) → (size, C, P, P)
            tx, ty = (torch.from_numpy(np.ascontiguousarray(np.stack(v).transpose(0, 3, 1, 2))) for v in (xs, ys))
            return tx, ty
        return torch.from_numpy(np.stack(xs)[:, None]), torch.from_numpy(np.stack(ys)[:, None])


def _block_crop(
    planes: np.ndarray, mask: np.ndarray | None, train_factors: dict[int, tuple[float, float]]
) -> tuple[np.ndarray, np.ndarray | None]:
    """``planes`` (and ``mask``) cropped to whole blocks of the integer factors (``lowres``)."""
    f = [float(train_factors[a][0]) for a in (0, 1)]
    if any(abs(v - round(v)) > 1e-6 or v < 1 for v in f):
        from medsr.errors import ConfigError

        raise ConfigError(None, f"adapting a network needs integer factors, got {f}", "use integer factors")
    na, nb = (planes.shape[1 + a] - planes.shape[1 + a] % int(round(f[a])) for a in (0, 1))
    return planes[:, :na, :nb], None if mask is None else np.asarray(mask)[:, :na, :nb]
