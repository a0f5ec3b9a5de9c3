"""Patch sampling for training: HR patches centred in the foreground, degraded on the fly.

Layouts (``patches.mode``), with ``C`` image channels (1 grey, 3 RGB) and factors ``f``:

* ``2d``: planes normal to ``slice_axis``. Input ``(C, x, y)`` LR, target ``(C, X, Y)`` HR,
  the two in-plane axes in increasing order (X then Y for axial planes).
* ``2.5d``: a slab of ``2k+1`` planes (``k = neighbours`` on each side along ``slice_axis``) as
  channels, in and out: input ``(C·(2k+1), x, y)`` LR and target ``(C·(2k+1), X, Y)`` HR,
  ordered slice-major (the channels of slice ``-k`` first). The network sees its neighbours'
  context and learns every plane of the slab; at inference the centre plane's channels are
  kept. Slices beyond the volume repeat the edge slice.
* ``3d``: input ``(C, x, y, z)``, target ``(C, X, Y, Z)``.

An HR region is cut with a margin of :data:`MARGIN_LR` LR voxels on every degraded axis,
degraded with a randomly drawn acquisition model (:mod:`medsr.train.degradations`), and the
margins are cropped again, so patch borders see the same operator as the interior. Regions
that do not fit in the image are mirrored at its border. Centres are foreground voxels with
probability ``foreground_fraction``, else uniform. Augmentation flips every patch axis and
swaps axes that share factor, spacing and size (the dihedral group of the grid).

In paired mode the LR patch is cut from the given LR image at a block-aligned position and
the HR patch from the matching ``f``-times larger block; nothing is simulated.

Example:
    >>> import numpy as np
    >>> from medsr.train.config import config_from_dict
    >>> from medsr.train.data import TrainImage
    >>> cfg = config_from_dict({"data": {"train": "x"}, "degradation": {"factors": [2, 2]},
    ...                         "patches": {"size": [16, 16], "batch_size": 3}})
    >>> img = TrainImage("a", np.random.rand(1, 40, 30, 1).astype(np.float32), np.ones(3),
    ...                  np.zeros((0, 3), np.int32), None, None)
    >>> x, y = PatchSampler([img], cfg).batch(np.random.default_rng(0))
    >>> x.shape, y.shape
    ((3, 1, 8, 8), (3, 1, 16, 16))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from medsr.train.config import AXES, TrainConfig, patch_shape
from medsr.train.data import TrainImage
from medsr.train.degradations import DegradationSampler

MARGIN_LR = 3  # LR voxels of context around a patch while it is degraded


def mirror_indices(start: int, length: int, n: int) -> np.ndarray:
    """Indices ``start … start+length-1`` folded into ``0 … n-1`` by mirroring (edge repeated)."""
    idx = np.arange(start, start + length)
    if n == 1:
        return np.zeros(length, dtype=np.intp)
    period = 2 * n
    idx = np.mod(idx, period)
    return np.where(idx >= n, period - 1 - idx, idx).astype(np.intp)


class PatchSampler:
    """Draws ``(input, target)`` training batches from normalised images.

    Args:
        images: the training images (:func:`medsr.train.data.load_images`).
        cfg: the run configuration (patch layout, factors, degradation ranges).
    """

    def __init__(self, images: Sequence[TrainImage], cfg: TrainConfig) -> None:
        self.images = list(images)
        self.cfg = cfg
        self.p = cfg.patches
        self.f = np.asarray(cfg.factors3, dtype=np.float64)
        self.fi = np.rint(self.f).astype(int)
        self.size = np.asarray(patch_shape(cfg), dtype=int)
        self.slice_axis = AXES.index(self.p.slice_axis) if self.p.mode != "3d" else None
        self.k = self.p.neighbours if self.p.mode == "2.5d" else 0
        self.degrader = DegradationSampler(cfg.degradation, self.f)
        sizes = np.array([t.data.size for t in self.images], dtype=np.float64)
        self.image_p = np.sqrt(sizes) / np.sqrt(sizes).sum()  # big images a little more often

    # -- public -----------------------------------------------------------------------------
    def batch(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(inputs, targets)`` float32 arrays of ``batch_size`` patches (layouts above).

        Patches come in ``draws_per_batch`` groups; the patches of a group share one image and
        one acquisition model and are degraded together (one operator build per group).
        """
        n = self.p.batch_size
        groups = min(n, self.p.draws_per_batch or n)
        sizes = [n // groups + (1 if g < n % groups else 0) for g in range(groups)]
        pairs: list[tuple[np.ndarray, np.ndarray]] = []
        for size in sizes:
            pairs += self.sample_group(rng, size)
        return np.stack([a for a, _ in pairs]), np.stack([b for _, b in pairs])

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One ``(input, target)`` pair."""
        return self.sample_group(rng, 1)[0]

    def sample_group(self, rng: np.random.Generator, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """``count`` pairs from one image, degraded with one random acquisition model."""
        img = self.images[int(rng.choice(len(self.images), p=self.image_p))]
        centres = [self._centre(img, rng) for _ in range(count)]
        if img.lr is not None:
            out = [self._paired(img, c) for c in centres]
        else:
            out = self._simulated(img, centres, rng)
        return [(self.layout(lr), self.layout(hr)) for hr, lr in out]

    # -- pieces -----------------------------------------------------------------------------
    def _centre(self, img: TrainImage, rng: np.random.Generator) -> np.ndarray:
        if len(img.centres) and rng.random() < self.p.foreground_fraction:
            return img.centres[int(rng.integers(len(img.centres)))].astype(int)
        return np.array([int(rng.integers(n)) for n in img.shape])

    def _region(self, centre: np.ndarray, margin: np.ndarray, shape: Sequence[int]) -> list[np.ndarray]:
        """Per-axis index arrays of the HR region (patch + margins) around ``centre``."""
        out = []
        for a in range(3):
            if a == self.slice_axis:
                out.append(_slice_indices(int(centre[a]), self.k, shape[a]))
                continue
            length = int(self.size[a] + 2 * margin[a])
            n = int(shape[a])
            start = int(centre[a]) - length // 2
            start = min(max(start, 0), n - length) if n >= length else (n - length) // 2
            out.append(mirror_indices(start, length, n))
        return out

    def _simulated(
        self, img: TrainImage, centres: Sequence[np.ndarray], rng: np.random.Generator
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        margin = np.where(self.fi > 1, MARGIN_LR * self.fi, 0)
        regions = []
        for centre in centres:
            idx = self._region(centre, margin, img.shape)
            region = img.data[np.ix_(np.arange(img.data.shape[0]), *idx)]
            regions.append(self._augment(region, img.spacing, rng))
        c = img.data.shape[0]
        draw = self.degrader.draw(rng, img.spacing)
        lr_all = self.degrader.apply(np.concatenate(regions), img.spacing, draw, img.normalizer)
        crop_hr = (slice(None),) + tuple(slice(m, regions[0].shape[1 + a] - m) for a, m in enumerate(margin))
        lr_m = np.where(self.fi > 1, MARGIN_LR, 0)
        crop_lr = (slice(None),) + tuple(slice(m, lr_all.shape[1 + a] - m) for a, m in enumerate(lr_m))
        return [(region[crop_hr], lr_all[i * c : (i + 1) * c][crop_lr]) for i, region in enumerate(regions)]

    def _paired(self, img: TrainImage, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lr_shape = img.lr.shape[1:]  # type: ignore[union-attr]
        lr_size = self.size // self.fi
        lr_idx, hr_idx = [], []
        for a in range(3):
            if a == self.slice_axis:
                i = _slice_indices(int(centre[a]), self.k, lr_shape[a])
                lr_idx.append(i)
                hr_idx.append(i)
                continue
            n = int(lr_shape[a])
            length = int(lr_size[a])
            start = int(centre[a]) // self.fi[a] - length // 2
            start = min(max(start, 0), n - length) if n >= length else (n - length) // 2
            li = mirror_indices(start, length, n)
            lr_idx.append(li)
            hr_idx.append((li[:, None] * self.fi[a] + np.arange(self.fi[a])[None]).reshape(-1))
        ch = np.arange(img.data.shape[0])
        return img.data[np.ix_(ch, *hr_idx)], img.lr[np.ix_(ch, *lr_idx)]  # type: ignore[index]

    def _augment(self, region: np.ndarray, spacing: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if not self.p.augment:
            return region
        axes = [a for a in range(3) if a != self.slice_axis and region.shape[1 + a] > 1]
        for a in axes:
            if rng.random() < 0.5:
                region = np.flip(region, axis=1 + a)
        for i, a in enumerate(axes):
            for b in axes[i + 1 :]:
                same = (
                    self.fi[a] == self.fi[b]
                    and self.size[a] == self.size[b]
                    and np.isclose(spacing[a], spacing[b], rtol=1e-3)
                )
                if same and rng.random() < 0.5:
                    region = np.swapaxes(region, 1 + a, 1 + b)
        return np.ascontiguousarray(region)

    def layout(self, arr: np.ndarray) -> np.ndarray:
        """``(C, X, Y, Z)`` region → network layout (see the module docstring)."""
        if self.slice_axis is None:
            return np.ascontiguousarray(arr, dtype=np.float32)
        moved = np.moveaxis(arr, 1 + self.slice_axis, 1)  # (C, S, p0, p1)
        stack = np.moveaxis(moved, 1, 0)  # (S, C, p0, p1): slice-major channels
        return np.ascontiguousarray(stack.reshape(-1, *stack.shape[2:]), dtype=np.float32)


def _slice_indices(centre: int, k: int, n: int) -> np.ndarray:
    """``centre-k … centre+k`` clipped to the volume (edge slices repeat)."""
    return np.clip(np.arange(centre - k, centre + k + 1), 0, n - 1).astype(np.intp)


def model_factors(cfg: TrainConfig) -> tuple[int, ...]:
    """Factors in the network's axis order: the two in-plane axes (2d/2.5d) or X Y Z (3d)."""
    f = [int(round(v)) for v in cfg.factors3]
    if cfg.patches.mode == "3d":
        return tuple(f)
    s = AXES.index(cfg.patches.slice_axis)
    return tuple(f[a] for a in range(3) if a != s)


def network_channels(cfg: TrainConfig, channels: int) -> int:
    """Network channels (in = out): ``C``, or ``C·(2k+1)`` in 2.5d mode."""
    return channels * (2 * cfg.patches.neighbours + 1) if cfg.patches.mode == "2.5d" else channels
