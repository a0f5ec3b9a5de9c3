"""The slice-profile operator: the referee's rect model, Gaussians, kernels, data consistency."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from medsr.acquisition.profile import SliceProfile, apply_along_axis, project_consistent
from medsr.errors import ConfigError

from ..conftest import REFEREE


def _referee():
    if not REFEREE.exists():
        pytest.skip("referee not available")
    spec = importlib.util.spec_from_file_location("referee_for_tests", REFEREE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # tests may use the referee; the package never does
    return mod


@pytest.mark.parametrize("n,k,t", [(189, 4, 4), (188, 5, 3), (30, 3, 1), (40, 4, 6), (25, 2, 0.5)])
def test_rect_matches_referee_exactly(n: int, k: int, t: float) -> None:
    W_ref = _referee().profile_weights(n, k, t)
    W = SliceProfile("rect", thickness_mm=t * 0.5).matrix(n, spacing_hr=0.5, spacing_lr=k * 0.5)
    np.testing.assert_allclose(W, W_ref, atol=1e-15)


@pytest.mark.parametrize("kind", ["rect", "gaussian"])
@pytest.mark.parametrize("f,t", [(4.0, 4.0), (5.0, 3.0), (8.77, 8.77), (2.5, 4.0)])
def test_rows_normalised_and_centred(kind: str, f: float, t: float) -> None:
    n = 200
    W = SliceProfile(kind, t).matrix(n, 1.0, f)
    np.testing.assert_allclose(W.sum(1), 1.0)
    centres = W @ np.arange(n)
    expected = np.arange(W.shape[0]) * f + (f - 1) / 2
    inner = slice(3, -3)  # rows clipped by the image edge shift their centroid
    # voxel-centre weighting of a box with fractional edges moves the centroid by < 1/50 voxel
    np.testing.assert_allclose(centres[inner], expected[inner], atol=0.02)


def test_gap_leaves_voxels_unsampled() -> None:
    W = SliceProfile("rect", 3.0).matrix(20, 1.0, 5.0)
    assert np.all(W[:, 0] == 0) and np.all(W[:, 4] == 0)  # between slices: never sampled
    np.testing.assert_allclose(W[0, 1:4], 1 / 3)


def test_gaussian_fwhm() -> None:
    W = SliceProfile("gaussian", 6.0).matrix(1001, 0.1, 10.0)  # 60 HR voxels FWHM
    row = W[5]
    half = row.max() / 2
    above = np.flatnonzero(row >= half)
    assert (above[-1] - above[0] + 1) * 0.1 == pytest.approx(6.0, abs=0.2)


def test_kernel_file(tmp_path) -> None:
    p = tmp_path / "profile.csv"
    p.write_text("-2,0\n-1,1\n1,1\n2,0\n")
    prof = SliceProfile.from_file(p)
    W = prof.matrix(40, 0.5, 4.0)
    np.testing.assert_allclose(W.sum(1), 1)
    assert prof.to_dict()["kind"] == "kernel"
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n")
    with pytest.raises(ConfigError, match="Remedy"):
        SliceProfile.from_file(bad)


def test_unknown_profile() -> None:
    with pytest.raises(ConfigError, match="unknown slice profile"):
        SliceProfile("triangle", 1.0)


def test_projection_makes_data_consistent() -> None:
    rng = np.random.default_rng(0)
    W = SliceProfile("rect", 3.0).matrix(60, 1.0, 5.0)
    x = rng.normal(size=(4, 60, 3))
    y = rng.normal(size=(4, W.shape[0], 3))
    p = project_consistent(x, y, W, axis=1)
    np.testing.assert_allclose(apply_along_axis(p, W, 1), y, atol=1e-4)
    # a consistent x stays put
    q = project_consistent(p, y, W, axis=1)
    np.testing.assert_allclose(q, p, atol=1e-4)
