"""The Image type: shape rules, geometry, metadata copying, repr."""

from __future__ import annotations

import numpy as np
import pytest

from medsr.errors import InvalidImageError
from medsr.image import Image, ImageMeta
from medsr.sitk_bridge import from_sitk, to_sitk


def test_shape_and_channels(small_volume: Image) -> None:
    assert small_volume.shape == (24, 20, 12)
    assert small_volume.channels == 1
    assert small_volume.data.dtype == np.float32


@pytest.mark.parametrize("shape", [(4, 5, 6), (1, 2, 3, 4, 5)])
def test_wrong_rank_is_refused(shape: tuple) -> None:
    with pytest.raises(InvalidImageError, match="Remedy"):
        Image(np.zeros(shape, np.float32))


def test_zero_size_is_refused() -> None:
    with pytest.raises(InvalidImageError, match="zero size"):
        Image(np.zeros((1, 0, 4, 4), np.float32))


def test_nan_is_reported(small_volume: Image) -> None:
    small_volume.data[0, 1, 2, 3] = np.nan
    small_volume.data[0, 2, 2, 3] = np.inf
    with pytest.raises(InvalidImageError, match="2 voxel values"):
        small_volume.check_finite()


def test_with_data_copies_meta(small_volume: Image) -> None:
    out = small_volume.with_data(small_volume.data * 2, units="x2")
    out.meta.history.append({"op": "double"})
    out.meta.header["k"] = 1
    assert small_volume.meta.history == [] and "k" not in small_volume.meta.header
    assert out.meta.units == "x2" and small_volume.meta.units == "HU"
    with pytest.raises(AttributeError):
        small_volume.with_data(small_volume.data, not_a_field=1)


def test_repr_shows_what_matters(small_volume: Image) -> None:
    r = repr(small_volume)
    for part in ("X=24", "Y=20", "Z=12", "0.7×0.7×2.5 mm", "thickness=2.5 mm", "LPS", "float32", "MiB", "HU"):
        assert part in r, part


def test_affine_matches_grid(small_volume: Image) -> None:
    a = small_volume.affine
    np.testing.assert_allclose(a @ [1, 2, 3, 1], [*(small_volume.origin + [0.7, 1.4, 7.5]), 1])


def test_sitk_round_trip_rgb_and_oblique() -> None:
    rng = np.random.default_rng(1)
    d = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    d *= np.sign(np.linalg.det(d))
    img = Image(rng.random((3, 5, 4, 2), dtype=np.float32), (0.5, 0.6, 2.0), (1.0, -2.0, 3.5), d, ImageMeta(rgb=True))
    back = from_sitk(to_sitk(img))
    np.testing.assert_array_equal(back.data, img.data)
    np.testing.assert_allclose(back.direction, d, atol=1e-12)
    np.testing.assert_allclose(back.origin, img.origin)
    np.testing.assert_allclose(back.spacing, img.spacing)
