"""Axis operators: B-spline interpolation as ITK does it, training pairs built with them."""

from __future__ import annotations

import numpy as np
import pytest

from medsr.acquisition.consistency import Consistency
from medsr.acquisition.profile import SliceProfile
from medsr.selfsup.operators import AxisOperators, bspline_matrix
from medsr.selfsup.pairs import PlaneSampler


def project_last(x, y, ops):  # the one projector, along the last axis
    return Consistency.from_operator(ops.W).project(x, y, axis=-1)


def test_bspline_matrix_matches_simpleitk_interior():
    sitk = pytest.importorskip("SimpleITK")
    rng = np.random.default_rng(1)
    n_lr, f = 12, 4
    lr = rng.normal(size=n_lr)
    mine = bspline_matrix(n_lr * f, n_lr, f) @ lr
    img = sitk.GetImageFromArray(np.tile(lr[:, None, None], (1, 4, 4)).astype(np.float64))
    img.SetSpacing((1.0, 1.0, float(f)))
    img.SetOrigin((0.0, 0.0, (f - 1) / 2))
    ref = sitk.Image([4, 4, n_lr * f], sitk.sitkFloat64)
    res = sitk.Resample(img, ref, sitk.Transform(), sitk.sitkBSpline, 0.0, sitk.sitkFloat64)
    theirs = sitk.GetArrayFromImage(res)[:, 1, 1]
    inner = slice(4 * f, -4 * f)  # the boundary conditions differ; their effect decays as 0.27^k
    np.testing.assert_allclose(mine[inner], theirs[inner], atol=2e-3)
    # an interpolating spline: at a sample's centre it returns the sample
    odd = bspline_matrix(n_lr * 5, n_lr, 5) @ lr
    np.testing.assert_allclose(odd[2::5], lr, atol=1e-9)


def test_projection_is_exact_with_gap_and_non_integer_factor():
    ops = AxisOperators.build(SliceProfile("rect", 3.0), n_hr=61, spacing_hr=0.57, spacing_lr=5.0, n_lr=7)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 61)), rng.normal(size=(5, 7))
    z = project_last(x, y, ops)
    np.testing.assert_allclose(z @ ops.W.T, y, atol=1e-4)
    # the projection moves x the least: a consistent x stays where it is
    np.testing.assert_allclose(project_last(z, y, ops), z, atol=1e-4)


def test_pairs_are_degraded_then_interpolated_planes():
    rng = np.random.default_rng(0)
    planes = rng.random((3, 36, 36)).astype(np.float32)  # (N, A, B); patch = whole plane
    s = PlaneSampler(planes, {0: (3.5, 2.5), 1: (3.5, 2.5)}, SliceProfile("rect", 1.0), patch=64, seed=0)
    W = SliceProfile("rect", 2.5).matrix(36, spacing_hr=1.0, spacing_lr=3.5)
    A = bspline_matrix(36, W.shape[0], 3.5) @ W
    x, y = s.batch(6)
    for b in range(6):
        t, inp = y[b, 0].numpy(), x[b, 0].numpy()
        hits = 0
        for k in range(3):
            for axis in (0, 1):
                plane = planes[k] if axis == 0 else planes[k].T  # degraded axis first
                for fh in (False, True):
                    for fw in (False, True):
                        img = plane[::-1] if fh else plane
                        img = img[:, ::-1] if fw else img
                        if np.array_equal(img, t):
                            want = A @ plane
                            want = want[::-1] if fh else want
                            want = want[:, ::-1] if fw else want
                            np.testing.assert_allclose(inp, want, atol=1e-5)
                            hits += 1
        assert hits == 1  # the target is one sharp plane (maybe flipped), the input its degraded copy
