"""Planning: thick-axis detection on any axis, refusals, gaps, non-integer factors."""

from __future__ import annotations

import numpy as np
import pytest

from medsr.errors import ConfigError, InvalidImageError
from medsr.image import Image, ImageMeta
from medsr.selfsup.plan import plan_enhance


def _img(shape=(20, 22, 8), spacing=(0.5, 0.5, 3.0), channels=1, **meta) -> Image:
    return Image(np.zeros((channels, *shape), np.float32), spacing=spacing, meta=ImageMeta(**meta))


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_thick_axis_found_on_any_axis(axis):
    sp = [0.7, 0.7, 0.7]
    sp[axis] = 3.5
    shape = [16, 18, 20]
    shape[axis] = 6
    p = plan_enhance(_img(tuple(shape), tuple(sp)))
    assert p.thick_axis == axis
    assert sorted(p.inplane_axes) == [a for a in range(3) if a != axis]
    assert p.output_grid.shape[axis] == 30  # 6 * 3.5 / 0.7
    assert p.factor == pytest.approx(5.0)
    for a in p.inplane_axes:
        assert p.output_grid.shape[a] == shape[a]


def test_thickness_assumed_recorded():
    p = plan_enhance(_img())
    assert p.thickness_assumed and p.thickness_mm == 3.0 and p.gap_mm == 0.0
    assert p.to_dict()["thickness_assumed"] is True
    q = plan_enhance(_img(slice_thickness=2.0))
    assert not q.thickness_assumed and q.thickness_mm == 2.0 and q.gap_mm == pytest.approx(1.0)
    r = plan_enhance(_img(), slice_thickness_mm=4.5)
    assert r.thickness_mm == 4.5 and not r.thickness_assumed and r.gap_mm == 0.0


def test_meta_thickness_only_describes_z():
    p = plan_enhance(_img((6, 20, 22), (3.0, 0.5, 0.5), slice_thickness=1.0))
    assert p.thick_axis == 0 and p.thickness_assumed and p.thickness_mm == 3.0


def test_gap_and_non_integer_factor():
    p = plan_enhance(_img((20, 22, 7), (0.57, 0.57, 5.0)), slice_thickness_mm=3.0, profile="gaussian")
    assert p.gap_mm == pytest.approx(2.0)
    assert p.profile.kind == "gaussian" and p.profile.thickness_mm == 3.0
    assert p.output_grid.shape[2] == round(7 * 5.0 / 0.57)
    f, t = p.train_factors[0]
    assert f == pytest.approx(5.0 / 0.57) and t == pytest.approx(3.0 / 0.57)
    assert p.factor == pytest.approx(5.0 / p.output_grid.spacing[2])


def test_explicit_factors_and_fov_preserved():
    img = _img((20, 22, 10), (1.0, 1.0, 4.0))
    p = plan_enhance(img, factors=(1, 1, 4))
    assert p.output_grid.shape == (20, 22, 40)
    np.testing.assert_allclose(p.output_grid.fov_corners(), img.grid.fov_corners(), atol=1e-9)
    q = plan_enhance(img, factors=(1, 1, 2.5))
    assert q.output_grid.shape == (20, 22, 25) and q.factor == pytest.approx(2.5)


@pytest.mark.parametrize(
    "kwargs, err",
    [
        (dict(shape=(20, 22, 8), spacing=(1.0, 1.0, 1.2)), InvalidImageError),  # near-isotropic
        (dict(shape=(20, 22, 1), spacing=(0.5, 0.5, 3.0)), InvalidImageError),  # 2D
        (dict(shape=(20, 22, 8), spacing=(0.5, 0.5, 3.0), channels=3), InvalidImageError),  # multichannel
        (dict(shape=(20, 22, 8), spacing=(0.5, 2.0, 3.0)), InvalidImageError),  # two thick axes
    ],
)
def test_refusals(kwargs, err):
    with pytest.raises(err) as info:
        plan_enhance(_img(**kwargs))
    assert "Remedy" in str(info.value)


def test_refuses_in_plane_factors_and_fewer_slices():
    img = _img((20, 22, 8), (0.5, 0.5, 3.0))
    with pytest.raises(ConfigError):
        plan_enhance(img, factors=(2, 1, 6))
    with pytest.raises(ConfigError):
        plan_enhance(img, factors=(1, 1, 0.5))
    with pytest.raises(ConfigError):
        plan_enhance(img, factors=(1, 1, 2), spacing=(0.5, 0.5, 1.0))


def test_plan_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys, numpy as np; from medsr.image import Image; from medsr.selfsup import plan_enhance; "
        "plan_enhance(Image(np.zeros((1, 8, 8, 3), np.float32), spacing=(1, 1, 4))); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
