"""predict: normalisation, layouts (2D, slice-wise, 3D), the output grid, masks and memmaps."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from medsr.engine.predict import predict
from medsr.errors import BundleError
from medsr.geometry import upsample_grid
from medsr.image import Image, ImageMeta
from medsr.models.bundle import Bundle
from medsr.models.bundle_meta import BundleMeta
from medsr.models.registry import build, get_arch

CT_NORM = {"mode": "ct-window", "lo": [-1024.0], "hi": [3071.0], "params": {}}


def _bundle(arch: str, factors, *, channels: int = 1, zero_tail: bool = False, norm=None, **kw) -> Bundle:
    torch.manual_seed(0)
    net = build(arch, in_channels=channels, factors=factors, **kw).eval()
    with torch.no_grad():
        if zero_tail:
            net.tail.weight.zero_()
            net.tail.bias.zero_()
        else:
            net.tail.weight.normal_(0, 0.05)
    meta = BundleMeta(
        arch=arch,
        factors=factors,
        channels=channels,
        arch_kwargs=dict(net.config),
        normalization=norm or {},
        modality=["CT"],
        spacing_range_mm=[[0.5, 1.0]] * 2 + [[2.0, 5.0]],
    )
    return Bundle(net, meta, get_arch(arch), None)


SMALL_STRONG = {"width": 16, "groups": 1, "blocks": 1}


@pytest.mark.parametrize(
    "arch,factors,kw", [("fast", (2, 2), {}), ("strong", (1, 3), SMALL_STRONG), ("fast3d", (1, 1, 4), {})]
)
def test_constant_image_gives_constant_output(arch, factors, kw) -> None:
    img = Image(np.full((1, 20, 18, 6), 0.3, np.float32), spacing=(0.8, 0.8, 3.0))
    out = predict(img, _bundle(arch, factors, **kw), tile=8)
    assert out.data.max() - out.data.min() < 1e-5
    ct = Image(np.full((1, 20, 18, 6), 40.0, np.float32), spacing=(0.8, 0.8, 3.0), meta=ImageMeta(modality="CT"))
    out = predict(ct, _bundle(arch, factors, norm=CT_NORM, **kw), tile=8)
    assert out.data.max() - out.data.min() < 1e-3  # HU


@pytest.mark.parametrize(
    "arch,factors,spacing,axis",
    [
        ("fast", (1, 4), (0.9, 0.9, 3.6), 2),  # slice-wise 2D model, thick Z
        ("fast", (1, 3), (2.4, 0.8, 0.8), 0),  # thick X: the layout turns the planes
        ("fast3d", (1, 1, 2), (0.7, 0.7, 1.4), 2),
        ("strong", (2, 2), (0.8, 0.8, 2.0), 0),
    ],
)
def test_output_lands_on_the_upsample_grid(arch, factors, spacing, axis) -> None:
    """With a zero residual the nets interpolate linearly; a ramp in world mm must then be exact
    at the output grid's voxel centres (this checks pixel shuffle ⇔ upsample_grid alignment)."""
    rng = np.random.default_rng(0)
    direction = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    img = Image(np.zeros((1, 14, 13, 8), np.float32), spacing=spacing, origin=(5.0, -3.0, 7.0), direction=direction)
    grad = np.array([0.3, -0.2, 0.5])
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in img.shape], indexing="ij"), -1)
    img.data[0] = img.grid.index_to_world(idx) @ grad
    kw = SMALL_STRONG if arch == "strong" else {}
    out = predict(img, _bundle(arch, factors, zero_tail=True, **kw), tile=6)
    scale = out.meta.history[-1]["factors"]
    assert scale[axis] == max(factors)
    grid = upsample_grid(img.grid, factors=scale)
    assert out.shape == grid.shape
    assert np.allclose(out.spacing, grid.spacing) and np.allclose(out.origin, grid.origin)
    oidx = np.stack(np.meshgrid(*[np.arange(n) for n in out.shape], indexing="ij"), -1)
    expect = grid.index_to_world(oidx) @ grad
    # linear interpolation clamps at the edges
    inner = tuple(slice(f, n - f) for f, n in zip(scale, out.shape, strict=True))
    assert np.abs(out.data[0][inner] - expect[inner]).max() < 1e-4
    assert out.meta.history[-1]["op"] == "predict"


def test_2d_image_and_rgb() -> None:
    rng = np.random.default_rng(1)
    img = Image(
        rng.random((3, 21, 17, 1), dtype=np.float32), spacing=(0.1, 0.1, 1.0), meta=ImageMeta(spatial_dims=2, rgb=True)
    )
    out = predict(img, _bundle("fast", (3, 3), channels=3), tile=8)
    assert out.data.shape == (3, 63, 51, 1) and np.allclose(out.spacing[:2], 0.1 / 3)
    assert out.meta.rgb and out.meta.spatial_dims == 2


def _is_mapped(arr: np.ndarray) -> bool:
    import mmap

    while arr is not None and not isinstance(arr, (np.memmap, mmap.mmap)):
        arr = getattr(arr, "base", None)
    return arr is not None


def test_tile_size_does_not_change_the_result_and_memmap_matches(tmp_path) -> None:
    rng = np.random.default_rng(2)
    img = Image(
        rng.normal(0, 200, (1, 30, 26, 5)).astype(np.float32), spacing=(0.7, 0.7, 2.8), meta=ImageMeta(modality="CT")
    )
    b = _bundle("fast", (1, 4), norm=CT_NORM)
    whole = predict(img, b, tile=1000)
    tiled = predict(img, b, tile=7, overlap=2, blend="hann")
    mm = predict(img, b, tile=9, out_dir=tmp_path)
    assert np.abs(tiled.data - whole.data).max() < 1e-4 * 4095
    assert _is_mapped(mm.data) and not _is_mapped(whole.data)
    assert np.abs(np.asarray(mm.data) - whole.data).max() < 1e-4 * 4095
    assert mm.meta.slice_thickness == pytest.approx(0.7)


def test_percentile_normalisation_is_refit_per_image() -> None:
    rng = np.random.default_rng(3)
    base = rng.random((1, 16, 16, 6), dtype=np.float32)
    norm = {"mode": "percentile", "lo": [0.0], "hi": [1.0], "params": {"percentiles": [0.5, 99.5]}}
    b = _bundle("fast", (1, 2), norm=norm)
    a = predict(Image(base, spacing=(1, 1, 2)), b)
    c = predict(Image(base * 1000 + 5, spacing=(1, 1, 2)), b)
    assert np.allclose(c.data, a.data * 1000 + 5, rtol=1e-4, atol=1e-2)


def test_mask_skips_background_tiles() -> None:
    rng = np.random.default_rng(4)
    img = Image(rng.random((1, 32, 32, 1), dtype=np.float32), meta=ImageMeta(spatial_dims=2))
    mask = np.zeros((32, 32, 1), bool)
    mask[2:10, 2:10] = True
    b = _bundle("fast", (2, 2))
    full = predict(img, b, tile=16)
    masked = predict(img, b, tile=16, mask=mask)
    assert np.allclose(masked.data[:, :32, :32], full.data[:, :32, :32], atol=1e-6)
    assert np.array_equal(masked.data[:, 32:, 32:], np.repeat(np.repeat(img.data[:, 16:, 16:], 2, 1), 2, 2))


def test_errors_and_domain_warnings(caplog) -> None:
    img = Image(np.zeros((3, 8, 8, 4), np.float32), spacing=(2.0, 2.0, 2.0), meta=ImageMeta(modality="MR"))
    with pytest.raises(BundleError, match="channel"):
        predict(img, _bundle("fast", (2, 2)))
    grey = Image(np.zeros((1, 8, 8, 4), np.float32), spacing=(2.0, 2.0, 2.0), meta=ImageMeta(modality="MR"))
    with caplog.at_level(logging.WARNING, logger="medsr.engine.predict"):
        predict(grey, _bundle("fast", (2, 2)))
    text = caplog.text
    assert "trained on CT" in text and "outside the bundle's range" in text


def test_bfloat16_close_to_float32() -> None:
    from medsr.engine.device import bf16_supported

    if not bf16_supported("cpu"):
        pytest.skip("no native bf16 on this CPU")
    rng = np.random.default_rng(5)
    img = Image(rng.random((1, 24, 24, 1), dtype=np.float32), meta=ImageMeta(spatial_dims=2))
    b = _bundle("strong", (2, 2), **SMALL_STRONG)
    a = predict(img, b, tile=12)
    h = predict(img, b, tile=12, dtype="bfloat16")
    assert h.meta.history[-1]["dtype"] == "bfloat16"
    assert np.abs(a.data - h.data).max() < 0.05
