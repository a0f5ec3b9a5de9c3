"""enhance(): grid, data consistency, exact intensities, tiling, determinism, sidecar info."""

from __future__ import annotations

import numpy as np
import pytest

from medsr.acquisition.profile import SliceProfile
from medsr.image import Image, ImageMeta
from medsr.selfsup import enhance
from tests.selfsup.helpers import phantom, thick


@pytest.fixture(scope="module")
def case():
    hr, lr = thick(phantom((36, 32, 40), n_blobs=25, seed=3), axis=2, f=4, t=3.0, spacing=0.8, origin=(-5.0, 3.0, 11.0))
    lr.meta.slice_thickness = 2.4  # a 0.8 mm gap between 3.2 mm slices
    return hr, lr


@pytest.fixture(scope="module")
def result(case):
    return enhance(case[1], steps=12, threads=1, seed=0)


def test_output_grid_preserves_field_of_view(case, result):
    hr, lr = case
    sr = result.image
    assert sr.shape == hr.shape and result.uncertainty.shape == hr.shape
    np.testing.assert_allclose(sr.grid.fov_corners(), lr.grid.fov_corners(), atol=1e-6)
    np.testing.assert_allclose(sr.origin, hr.origin, atol=1e-6)
    np.testing.assert_allclose(sr.spacing, hr.spacing, atol=1e-9)
    assert np.all(np.isfinite(sr.data)) and np.all(result.uncertainty.data >= 0)


def test_data_consistency_after_projection(case, result):
    lr, sr = case[1], result.image
    W = SliceProfile("rect", 2.4).matrix(
        sr.shape[2], spacing_hr=float(sr.spacing[2]), spacing_lr=float(lr.spacing[2]), n_lr=lr.shape[2]
    )
    redeg = sr.data[0].astype(np.float64) @ W.T
    rel = np.linalg.norm(redeg - lr.data[0]) / np.linalg.norm(lr.data[0])
    assert rel < 1e-3
    dc = result.info["data_consistency"]
    assert dc["relative_error_after"] < 1e-3 < dc["relative_error_before"]
    assert dc["relative_error_after"] == pytest.approx(rel, abs=1e-5)


def test_info_records_the_run(result):
    info = result.info
    assert info["thick_axis"] == "Z" and info["thickness_assumed"] is False
    assert info["input_slice_thickness_mm"] == pytest.approx(2.4) and info["gap_mm"] == pytest.approx(0.8)
    assert info["training"]["steps"] == 12 and info["seed"] == 0
    assert info["loss_curve"] and info["loss_curve"][-1][0] == 12
    assert set(info["timings_s"]) >= {"plan", "prepare", "train", "infer"}
    assert "torch" in info["versions"]
    import json

    json.dumps(info)  # the sidecar must be JSON-able


def test_hu_stay_hu_without_training():
    """With no training step the network is the identity on its input (zero-initialised
    tail): the output is the consistent cubic B-spline, in the input's units exactly."""
    data = np.full((1, 24, 20, 6), -1000.0, np.float32)
    data[0, 6:18, 5:15] = 40.0
    img = Image(data, spacing=(0.6, 0.6, 3.0), meta=ImageMeta(modality="CT", units="HU"))
    res = enhance(img, steps=0, threads=1)
    out = res.image.data[0]
    assert out.shape == (24, 20, 30)
    np.testing.assert_allclose(out[:6], -1000.0, atol=1e-2)  # air stays -1000 HU
    np.testing.assert_allclose(out[8:16, 7:13], 40.0, atol=1e-2)  # tissue stays 40 HU


def test_tiled_equals_untiled(case):
    lr = case[1]
    whole = enhance(lr, steps=6, threads=1, seed=1)
    tiled = enhance(lr, steps=6, threads=1, seed=1, block_size=6, slab=3)
    assert tiled.info["data_consistency"]["plane_tile"] == 6
    assert whole.info["data_consistency"]["plane_tile"] is None
    assert min(tiled.info["data_consistency"]["slabs"]) > 1
    # within 1e-4 in the network's normalised units (robust range = 1): float32 rounding only
    rec = whole.info["intensity"]  # the Normalizer record: robust window lo..hi
    scale = rec["hi"][0] - rec["lo"][0]
    assert np.max(np.abs(tiled.image.data - whole.image.data)) / scale < 1e-4
    assert np.max(np.abs(tiled.uncertainty.data - whole.uncertainty.data)) / scale < 1e-4
    assert np.max(np.abs(whole.uncertainty.data)) > 0


def test_deterministic_with_seed(case, result, tmp_path):
    again = enhance(case[1], steps=12, threads=1, seed=0, workdir=tmp_path)
    np.testing.assert_array_equal(again.image.data, result.image.data)
    other = enhance(case[1], steps=12, threads=1, seed=5)
    assert not np.array_equal(other.image.data, result.image.data)


def test_thick_axis_x_with_non_integer_factor():
    hr = phantom((40, 30, 28), n_blobs=15, seed=4)
    _, lr = thick(hr, axis=0, f=5, t=5.0)
    res = enhance(lr, spacing=(1.6, 1.0, 1.0), steps=4, threads=1)  # factor 5 / 1.6 = 3.125
    assert res.info["thick_axis"] == "X" and res.image.shape == (25, 30, 28)
    assert res.info["data_consistency"]["relative_error_after"] < 1e-3
    np.testing.assert_allclose(res.image.grid.fov_corners(), lr.grid.fov_corners(), atol=1e-6)


def test_kernel_profile_is_rescaled_per_axis(tmp_path):
    """A measured kernel (mm) works in every sharp axis's own samples and stays consistent."""
    path = tmp_path / "ssp.txt"
    path.write_text("-2.0 0\n-1.5 1\n0 1.2\n1.5 1\n2.0 0\n")
    prof = SliceProfile.from_file(path)
    _, lr = thick(phantom((30, 28, 32), n_blobs=10, seed=2), axis=2, f=4, t=4.0, spacing=0.8)
    res = enhance(lr, profile=prof, steps=3, threads=1)
    assert res.info["profile"]["kind"] == "kernel"
    assert res.info["data_consistency"]["relative_error_after"] < 1e-3
    from medsr.selfsup.plan import plan_enhance
    from medsr.selfsup.run import _sample_profiles

    per_axis = _sample_profiles(plan_enhance(lr, profile=prof))
    assert per_axis[0].kernel_mm[0][0] == pytest.approx(-2.0 / 0.8)


def test_progress_and_automatic_threads(case):
    seen: list[tuple[str, int, int]] = []
    res = enhance(case[1], steps=10, progress=lambda s, d, t: seen.append((s, d, t)))
    stages = {s for s, _, _ in seen}
    assert stages == {"train", "infer"}
    assert seen[-1][0] == "infer" and seen[-1][1] == seen[-1][2]
    assert ("train", 10, 10) in seen
    assert res.info["training"]["threads_auto"] is True and res.info["threads"] >= 1


def test_gaussian_profile_is_consistent():
    _, lr = thick(phantom((24, 26, 30), n_blobs=8, seed=6), axis=2, f=3, t=3.0)
    res = enhance(lr, profile="gaussian", steps=2, threads=1)
    W = SliceProfile("gaussian", 3.0).matrix(30, spacing_hr=1.0, spacing_lr=3.0, n_lr=10)
    rel = np.linalg.norm(res.image.data[0].astype(np.float64) @ W.T - lr.data[0]) / np.linalg.norm(lr.data[0])
    assert rel < 1e-3 and res.info["profile"]["kind"] == "gaussian"
