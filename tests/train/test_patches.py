"""Patch sampling: foreground-centred, 2D / 2.5D / 3D / RGB layouts, LR aligned with HR."""

from __future__ import annotations

import numpy as np
import pytest

from medsr.image import Image, ImageMeta
from medsr.train.config import config_from_dict
from medsr.train.data import TrainImage, prepare
from medsr.train.patches import PatchSampler, mirror_indices, model_factors, network_channels


def _cfg(factors, **patches):
    deg = {"factors": factors, "profiles": ["rect"], "thickness_scale": [1.0, 1.0]}
    return config_from_dict(
        {"data": {"train": "x"}, "degradation": deg, "patches": {"batch_size": 6, "augment": False, **patches}}
    )


def _image(c: int = 1, shape=(40, 36, 12), seed: int = 0) -> TrainImage:
    data = np.random.default_rng(seed).random((c, *shape)).astype(np.float32)
    centres = np.argwhere(np.ones(shape, bool)).astype(np.int32)
    return TrainImage("synthetic", data, np.array([0.7, 0.7, 2.0]), centres, None, None)


def _block_mean(hr: np.ndarray, f: tuple[int, ...]) -> np.ndarray:
    """Mean over f-blocks of the trailing axes of (N, C, *S)."""
    n, c, *s = hr.shape
    shape = [n, c]
    for size, k in zip(s, f, strict=False):
        shape += [size // k, k]
    axes = tuple(3 + 2 * i for i in range(len(f)))
    return hr.reshape(shape).mean(axis=axes)


def test_mirror_indices_fold_into_the_image() -> None:
    assert mirror_indices(-2, 6, 3).tolist() == [1, 0, 0, 1, 2, 2]
    assert mirror_indices(0, 3, 1).tolist() == [0, 0, 0]


@pytest.mark.parametrize(
    "mode,c,factors,size,x_shape,y_shape",
    [
        ("2d", 1, [2, 2, 1], [16, 12], (6, 1, 8, 6), (6, 1, 16, 12)),
        ("2d", 3, [4, 4, 1], [16, 16], (6, 3, 4, 4), (6, 3, 16, 16)),
        ("2.5d", 1, [2, 2, 1], [16, 16], (6, 3, 8, 8), (6, 3, 16, 16)),
        ("3d", 1, [1, 1, 4], [8, 8, 8], (6, 1, 8, 8, 2), (6, 1, 8, 8, 8)),
        ("3d", 3, [2, 2, 2], [8, 8, 8], (6, 3, 4, 4, 4), (6, 3, 8, 8, 8)),
    ],
)
def test_layouts_and_alignment(mode, c, factors, size, x_shape, y_shape) -> None:
    cfg = _cfg(factors, mode=mode, size=size)
    x, y = PatchSampler([_image(c)], cfg).batch(np.random.default_rng(0))
    assert x.shape == x_shape and y.shape == y_shape
    assert x.dtype == np.float32 and y.dtype == np.float32
    assert network_channels(cfg, c) == x.shape[1]
    # rect profile of thickness f: the LR input is exactly the block mean of the HR target
    np.testing.assert_allclose(x, _block_mean(y, model_factors(cfg)), atol=1e-5)


def test_2_5d_channels_are_neighbouring_slices() -> None:
    img = _image(1, shape=(16, 16, 9))
    img.data[:] = np.arange(9, dtype=np.float32)[None, None, None, :]  # value = slice index
    cfg = _cfg([2, 2, 1], mode="2.5d", size=[8, 8], neighbours=2)
    x, y = PatchSampler([img], cfg).batch(np.random.default_rng(1))
    for xi in x:
        z = xi[:, 0, 0]
        centre = z[2]
        assert z.tolist() == np.clip(np.arange(centre - 2, centre + 3), 0, 8).tolist()


def test_patches_come_from_the_foreground_mask() -> None:
    data = np.zeros((1, 160, 160, 1), np.float32)
    data[0, 120:136, 20:36] = 100.0  # a small object in a corner
    item = prepare(Image(data, meta=ImageMeta(spatial_dims=2)), _cfg([2, 2]).data)
    assert len(item.centres) > 0
    assert all(100 <= cx < 156 and 0 <= cy < 56 for cx, cy, _ in item.centres)  # mask ⊂ object ± closing
    hits = []
    for fraction in (1.0, 0.0):
        cfg = _cfg([2, 2, 1], size=[16, 16], foreground_fraction=fraction, batch_size=64)
        _, y = PatchSampler([item], cfg).batch(np.random.default_rng(2))
        hits.append(np.mean([(t > 0.5).any() for t in y]))
    assert hits[0] == 1.0
    assert hits[1] < 0.3


def test_paired_images_give_aligned_patches() -> None:
    img = _image(1, shape=(40, 36, 1))
    img.lr = _block_mean(img.data[None, :, :, :, 0], (2, 2))[0][..., None]
    cfg = _cfg([2, 2, 1], size=[16, 16])
    x, y = PatchSampler([img], cfg).batch(np.random.default_rng(0))
    assert x.shape == (6, 1, 8, 8)
    np.testing.assert_allclose(x, _block_mean(y, (2, 2)), atol=1e-6)


def test_augmentation_keeps_alignment_and_varies_orientation() -> None:
    cfg = _cfg([2, 2, 1], size=[16, 16], augment=True, batch_size=32)
    img = _image(1, shape=(16, 16, 1))
    x, y = PatchSampler([img], cfg).batch(np.random.default_rng(0))
    np.testing.assert_allclose(x, _block_mean(y, (2, 2)), atol=1e-5)
    distinct = {t.tobytes() for t in y}
    assert len(distinct) >= 4  # flips and transposes of the one possible 16x16 crop
