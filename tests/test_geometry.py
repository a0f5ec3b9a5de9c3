"""Output-grid rules: the field of view is preserved, edge to edge, for any per-axis factor."""

from __future__ import annotations

import numpy as np
import pytest

from medsr.errors import GeometryError
from medsr.geometry import Grid, degrade_grid, obliquity_deg, orientation_code, upsample_grid


def _oblique(deg: float) -> np.ndarray:
    t = np.radians(deg)
    rx = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
    rz = np.array([[np.cos(2 * t), -np.sin(2 * t), 0], [np.sin(2 * t), np.cos(2 * t), 0], [0, 0, 1]])
    return rz @ rx


GRIDS = [
    Grid((64, 48, 12), (0.7, 0.7, 5.0), (-120.0, 35.5, 10.0), np.eye(3)),
    Grid((30, 31, 7), (0.859, 0.859, 7.0), (12.0, -40.0, 3.0), _oblique(7.7)),
    Grid((197, 233, 47), (1.0, 1.0, 4.0), (98.0, 134.0, -70.5), np.diag([-1.0, -1.0, 1.0])),
]


@pytest.mark.parametrize("grid", GRIDS, ids=["axial", "oblique", "ras-flipped"])
@pytest.mark.parametrize("factors", [(1, 1, 4), (2, 2, 1), (1, 1, 4.37), (1.5, 2.25, 3.3), (0.5, 1, 1)])
def test_upsample_keeps_fov_corners_and_centre(grid: Grid, factors: tuple) -> None:
    up = upsample_grid(grid, factors=factors)
    np.testing.assert_allclose(up.fov_corners(), grid.fov_corners(), atol=1e-9)
    np.testing.assert_allclose(up.fov_center(), grid.fov_center(), atol=1e-9)
    np.testing.assert_allclose(up.direction, grid.direction)
    assert up.shape == tuple(int(round(n * f)) for n, f in zip(grid.shape, factors, strict=False))


@pytest.mark.parametrize("grid", GRIDS, ids=["axial", "oblique", "ras-flipped"])
def test_target_spacing_keeps_fov(grid: Grid) -> None:
    up = upsample_grid(grid, spacing=(grid.spacing[0],) * 3)
    np.testing.assert_allclose(up.fov_corners(), grid.fov_corners(), atol=1e-9)
    # the spacing is adjusted so a whole number of voxels fills the same extent
    np.testing.assert_allclose(up.spacing * up.shape, grid.spacing * grid.shape)
    assert abs(up.spacing[2] - grid.spacing[0]) <= grid.spacing[2] / up.shape[2] + 1e-9


def test_integer_factor_lands_on_referee_grid() -> None:
    """referee: origin_LR = origin_HR + (k-1)/2 * spacing_HR; upsampling must invert it exactly."""
    hr = Grid((197, 233, 188), (1.0, 1.0, 1.0), (98.0, 134.0, -72.0), np.diag([-1.0, -1.0, 1.0]))
    lr = degrade_grid(hr, (1, 1, 4))
    assert lr.shape == (197, 233, 47)
    np.testing.assert_allclose(lr.origin, [98.0, 134.0, -72.0 + 1.5])
    np.testing.assert_allclose(lr.spacing, [1, 1, 4])
    back = upsample_grid(lr, factors=(1, 1, 4))
    assert back.shape == hr.shape
    np.testing.assert_allclose(back.origin, hr.origin, atol=1e-12)
    np.testing.assert_allclose(back.spacing, hr.spacing, atol=1e-12)


def test_degrade_drops_partial_blocks_and_handles_noninteger() -> None:
    g = Grid((10, 10, 189), (1, 1, 1), (0, 0, 0))
    assert degrade_grid(g, (1, 1, 4)).shape == (10, 10, 47)
    d = degrade_grid(g, (1, 1, 2.5))
    assert d.shape == (10, 10, 75)
    np.testing.assert_allclose(d.origin, [0, 0, 0.75])


@pytest.mark.parametrize("bad", [(0, 1, 1), (1, 1, -2), (1, float("nan"), 1)])
def test_bad_factors_raise(bad: tuple) -> None:
    with pytest.raises(GeometryError, match="Remedy"):
        upsample_grid(GRIDS[0], factors=bad)


def test_impossible_size_raises() -> None:
    with pytest.raises(GeometryError, match="impossible"):
        upsample_grid(GRIDS[0], factors=(1e4, 1e4, 1e4))


@pytest.mark.parametrize("spacing", [(0, 1, 1), (1, float("nan"), 1), (1, 1, -1)])
def test_grid_rejects_bad_spacing(spacing: tuple) -> None:
    with pytest.raises(GeometryError, match="spacing"):
        Grid((2, 2, 2), spacing, (0, 0, 0))


def test_index_world_round_trip() -> None:
    g = GRIDS[1]
    idx = np.array([[0, 0, 0], [3.5, 2.25, 6], [29, 30, 6]])
    np.testing.assert_allclose(g.world_to_index(g.index_to_world(idx)), idx, atol=1e-9)
    np.testing.assert_allclose(g.index_to_world([0, 0, 0]), g.origin)


def test_orientation_codes() -> None:
    assert orientation_code(np.eye(3)) == "LPS"
    assert orientation_code(np.diag([-1.0, -1.0, 1.0])) == "RAS"
    assert obliquity_deg(np.eye(3)) == 0.0
    assert 7.7 < obliquity_deg(_oblique(7.7)) < 20
    assert obliquity_deg(_oblique(0.0)) == pytest.approx(0.0, abs=1e-6)
