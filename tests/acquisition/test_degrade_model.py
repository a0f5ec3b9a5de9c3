"""Tests of medsr.acquisition.degrade: grids, thickness, profiles, blur, records and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medsr.acquisition import degrade
from medsr.acquisition.profile import SliceProfile
from medsr.acquisition.resample import gaussian_matrix
from medsr.errors import ConfigError
from medsr.geometry import degrade_grid
from medsr.image import Image, ImageMeta


def _ramp(n: int = 40, spacing: float = 1.0) -> Image:
    return Image(
        np.arange(n, dtype=np.float32).reshape(1, 1, 1, n), spacing=(1.0, 1.0, spacing), origin=(5.0, -3.0, 10.0)
    )


def test_mean_of_blocks_and_grid() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(1, 6, 5, 19)).astype(np.float32)
    hr = Image(data, spacing=(0.8, 0.9, 1.25), origin=(1.0, 2.0, 3.0), direction=np.diag([1.0, -1.0, 1.0]))
    lr = degrade(hr, (1, 1, 4))
    expected = data[..., :16].astype(np.float64).reshape(1, 6, 5, 4, 4).mean(axis=-1)
    np.testing.assert_allclose(lr.data, expected, rtol=0, atol=1e-6)
    grid = degrade_grid(hr.grid, (1, 1, 4))
    assert lr.shape == grid.shape == (6, 5, 4)
    np.testing.assert_allclose(lr.origin, grid.origin)
    np.testing.assert_allclose(lr.spacing, [0.8, 0.9, 5.0])
    assert lr.data.dtype == np.float32 and lr.meta.slice_thickness == 5.0


@pytest.mark.parametrize("f", [2.5, 3.0, 4.7])
def test_non_integer_factor_integrates_the_voxel_boxes(f: float) -> None:
    lr = degrade(_ramp(40), (1, 1, f))
    n_lr = int(np.floor(40 / f))
    assert lr.shape[2] == n_lr and lr.spacing[2] == pytest.approx(f)
    for j in range(n_lr):
        c = j * f + (f - 1) / 2  # LR sample j centred here (HR index units)
        x = np.linspace(c - f / 2, c + f / 2, 200_001)
        x = x[(x >= -0.5) & (x < 39.5)]
        expected = np.floor(x + 0.5).mean()  # voxel i holds the value i over [i - 1/2, i + 1/2)
        assert lr.data[0, 0, 0, j] == pytest.approx(expected, abs=2e-4)
    assert degrade(Image(np.full((1, 1, 1, 40), 7.0, np.float32)), (1, 1, f)).data == pytest.approx(7.0)


def test_gap_and_overlap_thickness() -> None:
    x = np.zeros(20, np.float32)
    x[1:4] = 1.0  # HR voxels 1..3 are inside LR slice 0 (centre 2, thickness 3)
    hr = Image(x.reshape(1, 1, 1, 20))
    gap = degrade(hr, (1, 1, 5), thickness_mm=3.0)
    assert gap.data[0, 0, 0, 0] == pytest.approx(1.0) and gap.meta.slice_thickness == 3.0
    overlap = degrade(hr, (1, 1, 5), thickness_mm=(None, None, 7.0))
    assert overlap.data[0, 0, 0, 0] == pytest.approx(3.0 / 6.0)  # [-1.5, 5.5] clipped at the FOV edge: 6 voxels
    assert overlap.data[0, 0, 0, 1] == pytest.approx(0.0)  # [3.5, 10.5]: none of voxels 1..3
    contiguous = degrade(hr, (1, 1, 5))
    assert contiguous.data[0, 0, 0, 0] == pytest.approx(3.0 / 5.0)


def test_scalar_thickness_goes_to_the_last_degraded_axis() -> None:
    hr = Image(np.random.default_rng(1).random((1, 12, 12, 4)).astype(np.float32))
    lr = degrade(hr, (4, 2, 1), thickness_mm=2.0)
    rec = lr.meta.history[-1]
    assert rec["slice_axis"] == 1 and rec["thickness_mm"] == [4.0, 2.0, None]
    assert lr.meta.slice_thickness is None  # Z untouched


def test_thickness_on_a_non_degraded_axis_blurs_it() -> None:
    x = np.zeros((1, 1, 1, 9), np.float32)
    x[..., 4] = 3.0
    out = degrade(Image(x), (1, 1, 1), thickness_mm=(None, None, 3.0))
    np.testing.assert_allclose(out.data.ravel(), [0, 0, 0, 1, 1, 1, 0, 0, 0], atol=1e-6)
    assert out.meta.slice_thickness == 3.0


def test_gaussian_profile_equals_its_matrix() -> None:
    hr = _ramp(30)
    hr.data[:] = np.sin(np.arange(30) / 3.0)
    lr = degrade(hr, (1, 1, 3), profile="gaussian", thickness_mm=4.0)
    W = SliceProfile("gaussian", 4.0).matrix(30, 1.0, 3.0, 10)
    np.testing.assert_allclose(lr.data.ravel(), W @ hr.data.ravel().astype(np.float64), atol=1e-6)
    assert lr.meta.history[-1]["profiles"][2] == {"kind": "gaussian", "thickness_mm": 4.0}


def test_slice_profile_object_brings_its_thickness() -> None:
    lr = degrade(_ramp(30), (1, 1, 3), profile=SliceProfile("rect", 1.0))
    np.testing.assert_allclose(lr.data.ravel(), np.arange(10) * 3 + 1, atol=1e-6)  # point-like slices
    assert lr.meta.slice_thickness == 1.0


def test_kernel_file_profile(tmp_path: Path) -> None:
    kernel = tmp_path / "profile.txt"
    kernel.write_text("-2 0\n-1 1\n0 1\n1 1\n2 0\n")
    hr = Image(np.random.default_rng(2).random((1, 8, 1, 24)).astype(np.float32))
    lr = degrade(hr, (2, 1, 4), profile=str(kernel))
    prof = SliceProfile.from_file(kernel)
    Wz = prof.matrix(24, 1.0, 4.0, 6)
    Wx = SliceProfile("rect", 2.0).matrix(8, 1.0, 2.0, 4)
    expected = Wx @ hr.data[0, :, 0, :].astype(np.float64) @ Wz.T
    np.testing.assert_allclose(lr.data[0, :, 0, :], expected, atol=1e-6)
    assert lr.meta.history[-1]["profiles"][2]["kind"] == "kernel"
    assert lr.meta.history[-1]["profiles"][0]["kind"] == "rect"


def test_blur_is_applied_in_plane_before_sampling() -> None:
    rng = np.random.default_rng(3)
    hr = Image(rng.random((1, 10, 9, 8)).astype(np.float32), spacing=(0.5, 0.5, 1.0))
    lr = degrade(hr, (1, 1, 2), blur_mm=1.0)
    Gx, Gy = gaussian_matrix(10, 2.0), gaussian_matrix(9, 2.0)
    Wz = SliceProfile("rect", 2.0).matrix(8, 1.0, 2.0, 4)
    expected = np.einsum("ai,bj,ck,ijk->abc", Gx, Gy, Wz, hr.data[0].astype(np.float64))
    np.testing.assert_allclose(lr.data[0], expected, atol=1e-6)
    assert lr.meta.history[-1]["blur_fwhm_mm"] == [1.0, 1.0, None]


def test_two_dimensional_rgb() -> None:
    rng = np.random.default_rng(4)
    data = rng.random((3, 8, 6, 1)).astype(np.float32)
    img = Image(data, spacing=(0.25, 0.25, 1.0), meta=ImageMeta(rgb=True, spatial_dims=2, modality="XC"))
    lr = degrade(img, (2, 3))
    assert lr.shape == (4, 2, 1) and lr.channels == 3
    expected = data.reshape(3, 4, 2, 2, 3, 1).mean(axis=(2, 4))
    np.testing.assert_allclose(lr.data, expected, atol=1e-6)
    assert lr.meta.rgb and lr.meta.spatial_dims == 2


def test_history_is_json_and_complete(small_volume: Image) -> None:
    lr = degrade(small_volume, (1, 1, 2), noise="ct:10", seed=3)
    rec = json.loads(json.dumps(lr.meta.history[-1]))
    assert rec["op"] == "degrade" and rec["factors"] == [1.0, 1.0, 2.0] and rec["seed"] == 3
    assert rec["noise"] == {"kind": "ct", "sigma": 10.0}
    assert rec["grid_in"]["shape"] == [24, 20, 12] and rec["grid_out"]["shape"] == [24, 20, 6]
    assert rec["unused_hr_voxels"] == [0.0, 0.0, 0.0] and rec["thickness_mm"] == [None, None, 5.0]
    assert small_volume.meta.history == []  # the input is not changed


def test_noise_is_seeded(small_volume: Image) -> None:
    a = degrade(small_volume, (1, 1, 2), noise={"kind": "gaussian", "sigma": 5}, seed=1)
    b = degrade(small_volume, (1, 1, 2), noise={"kind": "gaussian", "sigma": 5}, seed=1)
    c = degrade(small_volume, (1, 1, 2), noise={"kind": "gaussian", "sigma": 5}, seed=2)
    clean = degrade(small_volume, (1, 1, 2))
    assert np.array_equal(a.data, b.data) and not np.array_equal(a.data, c.data)
    assert 4.0 < float(np.std(a.data - clean.data)) < 6.0


def test_kspace_option_uses_the_same_grid() -> None:
    n = 48
    z = np.arange(n)
    hr = Image(np.cos(2 * np.pi * 3 * z / n).astype(np.float32).reshape(1, 1, 1, n))
    lr = degrade(hr, (1, 1, 4), kspace="none")
    centres = np.arange(12) * 4 + 1.5
    np.testing.assert_allclose(lr.data.ravel(), np.cos(2 * np.pi * 3 * centres / n), atol=1e-5)
    assert lr.grid.shape == degrade_grid(hr.grid, (1, 1, 4)).shape
    assert lr.meta.history[-1]["kspace"]["window"] == "none"
    assert lr.meta.history[-1]["profiles"][2]["kind"] == "kspace"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"factors": (1, 1, 0.5)},
        {"factors": (1, 4)},
        {"factors": (1, 1, float("inf"))},
        {"factors": (1, 1, 2), "thickness_mm": -1.0},
        {"factors": (1, 1, 2), "thickness_mm": (1, 2)},
        {"factors": (1, 1, 2), "profile": "triangle"},
        {"factors": (1, 1, 2), "noise": "poisson"},
        {"factors": (1, 1, 2), "kspace": {"window": "hann", "axis": 2}},
        {"factors": (1, 1, 2), "kspace": "kaiser"},
    ],
)
def test_bad_options_raise_config_errors(kwargs: dict, small_volume: Image) -> None:
    factors = kwargs.pop("factors")
    with pytest.raises(ConfigError):
        degrade(small_volume, factors, **kwargs)


def test_two_dimensional_image_cannot_be_degraded_along_z() -> None:
    img = Image(np.zeros((1, 4, 4, 1), np.float32), meta=ImageMeta(spatial_dims=2))
    with pytest.raises(ConfigError):
        degrade(img, (1, 1, 2))
