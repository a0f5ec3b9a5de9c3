"""Tests of medsr.baselines: world-coordinate resampling, grids, 2D/RGB, and the referee baseline."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medsr.baselines import _resample_channel, lanczos_matrix, resample_to_grid, upsample
from medsr.errors import ConfigError, GeometryError
from medsr.geometry import Grid, upsample_grid
from medsr.image import Image, ImageMeta
from tests.acquisition.referee_case import mni_case, our_upsample_scored


def _vol(seed: int = 0) -> Image:
    data = np.random.default_rng(seed).random((1, 9, 10, 7)).astype(np.float32)
    return Image(data, spacing=(1.0, 1.2, 4.0), origin=(3.0, 4.0, 5.0), direction=np.diag([-1.0, 1.0, 1.0]))


def test_linear_upsampling_in_world_coordinates() -> None:
    lr = Image(np.arange(4, dtype=np.float32).reshape(1, 1, 1, 4), spacing=(1, 1, 4), origin=(0, 0, 10))
    up = upsample(lr, factors=(1, 1, 4), method="linear")
    grid = upsample_grid(lr.grid, factors=(1, 1, 4))
    assert up.shape == grid.shape == (1, 1, 16) and up.data.dtype == np.float32
    np.testing.assert_allclose(up.origin, grid.origin)
    z = (np.arange(16) - 1.5) / 4  # LR continuous index of each HR voxel
    expected = np.clip(z, 0, 3)  # linear inside, nearest-neighbour beyond the outer centres
    np.testing.assert_allclose(up.data.ravel(), expected, atol=1e-6)
    rec = up.meta.history[-1]
    assert rec["op"] == "upsample" and rec["method"] == "linear" and rec["factors"] == [1.0, 1.0, 4.0]


def test_nearest_and_bspline_keep_samples_and_target_spacing() -> None:
    img = _vol()
    for method in ("nearest", "bspline"):
        same = resample_to_grid(img, img.grid, method)
        np.testing.assert_allclose(same.data, img.data, atol=1e-5)
    up = upsample(img, spacing=(0.5, 0.6, 1.0))
    assert up.shape == (18, 20, 28)
    np.testing.assert_allclose(up.spacing, [0.5, 0.6, 1.0])


def test_two_dimensional_rgb_is_resampled_per_channel_in_2d() -> None:
    rng = np.random.default_rng(1)
    data = rng.random((3, 12, 10, 1)).astype(np.float32)
    data[1] *= 100
    img = Image(
        data, spacing=(0.5, 0.5, 1.0), origin=(2.0, 3.0, 7.0), meta=ImageMeta(rgb=True, spatial_dims=2, modality="XC")
    )
    up = upsample(img, factors=(2, 2), method="bspline")
    assert up.shape == (24, 20, 1) and up.channels == 3 and up.meta.rgb
    assert up.origin[2] == 7.0 and up.spacing[2] == 1.0
    for c in range(3):
        single = Image(data[c : c + 1], spacing=(0.5, 0.5, 1.0), origin=(2.0, 3.0, 7.0), meta=ImageMeta(spatial_dims=2))
        np.testing.assert_array_equal(up.data[c], upsample(single, factors=(2, 2)).data[0])
    assert 0 < up.data[1].mean() / up.data[0].mean() < 200


def test_separable_lanczos_equals_simpleitk() -> None:
    img = _vol(2)
    grids = [
        upsample_grid(img.grid, factors=(1.5, 1, 4)),
        Grid((20, 7, 40), (0.7, 1.9, 0.9), (-2.0, 1.0, -8.0), img.direction),  # partly outside
        Grid((20, 7, 40), (0.7, 1.9, 0.9), (7.3, 1.0, -8.0), img.direction),
    ]
    for g in grids:
        fast = resample_to_grid(img, g, "lanczos").data[0]
        itk = _resample_channel(img.data[0], img.grid, g, "lanczos", False)
        np.testing.assert_allclose(fast, itk, atol=1e-5)


def test_lanczos_weights_interpolate_exactly_at_samples() -> None:
    W = lanczos_matrix(6, np.array([0.0, 2.0, 5.0, 7.0, -1.0]))
    np.testing.assert_allclose(W, np.eye(6)[[0, 2, 5, 5, 0]], atol=1e-12)


def test_errors() -> None:
    img = _vol()
    with pytest.raises(ConfigError):
        upsample(img, factors=(1, 1, 2), method="cubic")
    with pytest.raises(GeometryError):
        upsample(img)  # neither factors nor spacing
    flat = Image(np.zeros((1, 4, 4, 1), np.float32), meta=ImageMeta(spatial_dims=2))
    with pytest.raises(GeometryError):
        resample_to_grid(flat, Grid((4, 4, 3), (1, 1, 1), (0, 0, 0)))


@pytest.mark.slow
@pytest.mark.shared
def test_bspline_matches_the_referee_baseline(tmp_path_factory: pytest.TempPathFactory) -> None:
    case = mni_case(tmp_path_factory, (1, 1, 4), with_baseline=True)
    _, score = our_upsample_scored(tmp_path_factory, case, "bspline")
    base = json.loads((case / "baseline.json").read_text())["bspline3"]
    assert score["resampled"] is False
    assert abs(score["psnr"] - base["psnr"]) <= 0.05
    assert abs(score["ssim"] - base["ssim"]) <= 1e-3
