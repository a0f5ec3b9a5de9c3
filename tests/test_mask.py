"""Tests of medsr.mask on exact synthetic phantoms and on the shared CT, MRI, fundus and H&E."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medsr.errors import ConfigError
from medsr.image import Image, ImageMeta
from medsr.mask import foreground_mask, mask_image
from tests.conftest import shared_path


def _read(path: Path, **meta: object) -> Image:
    import SimpleITK as sitk

    from medsr.sitk_bridge import from_sitk

    img = sitk.ReadImage(str(path))
    return from_sitk(img, ImageMeta(spatial_dims=img.GetDimension(), **meta))


def _ct_phantom() -> Image:
    """Air, an elliptic body with two air-filled lungs open to the top slice (a trachea), and a
    separate thin curved table below the body."""
    x, y, z = np.meshgrid(np.arange(64), np.arange(64), np.arange(10), indexing="ij")
    data = np.full(x.shape, -1000.0)
    body = ((x - 32) / 26.0) ** 2 + ((y - 30) / 20.0) ** 2 < 1
    data[body] = 40.0
    lungs = (((x - 22) / 7.0) ** 2 + ((y - 30) / 10.0) ** 2 < 1) | (((x - 42) / 7.0) ** 2 + ((y - 30) / 10.0) ** 2 < 1)
    data[lungs] = -850.0
    data[(abs(x - 22) <= 1) & (abs(y - 30) <= 1) & (z >= 5)] = -1000.0  # trachea to the edge of the volume
    data[(y >= 57) & (y <= 58) & (x > 4) & (x < 60)] = 200.0  # table shell, 2 voxels thick, 7 below the body
    meta = ImageMeta(modality="CT", units="HU")
    return Image(data[None].astype(np.float32), spacing=(1.0, 1.0, 2.5), meta=meta)


def test_ct_phantom_body_filled_table_and_air_excluded() -> None:
    img = _ct_phantom()
    m = foreground_mask(img)
    body = np.broadcast_to(
        ((np.arange(64)[:, None] - 32) / 26.0) ** 2 + ((np.arange(64)[None] - 30) / 20.0) ** 2 < 1, (10, 64, 64)
    ).transpose(1, 2, 0)
    assert m.shape == img.shape and m.dtype == bool
    assert np.array_equal(m, body)  # lungs and trachea filled, table (and air) out


def test_explicit_threshold_and_small_components() -> None:
    img = _ct_phantom()
    kept = foreground_mask(img, threshold=-500, min_component_fraction=0.0)
    assert kept[:, 57:59].any()  # the table is kept when no component is dropped
    none = foreground_mask(img, threshold=1000)
    assert not none.any()


def test_two_dimensional_bright_object_with_otsu() -> None:
    data = np.zeros((1, 40, 30, 1), np.float32)
    data[0, 10:30, 5:25] = 100.0
    data[0, 15:20, 10:15] = 0.0  # a hole
    img = Image(data, meta=ImageMeta(spatial_dims=2))
    m = foreground_mask(img, method="otsu")
    expected = np.zeros((40, 30, 1), bool)
    expected[10:30, 5:25] = True
    assert np.array_equal(m, expected)


def test_mask_image_is_a_zero_one_image_on_the_same_grid() -> None:
    img = _ct_phantom()
    out = mask_image(img)
    assert out.channels == 1 and out.shape == img.shape
    assert np.array_equal(out.spacing, img.spacing) and np.array_equal(out.origin, img.origin)
    assert set(np.unique(out.data).tolist()) == {0.0, 1.0}
    assert out.meta.source_dtype == "uint8" and out.meta.units == "label"
    rec = out.meta.history[-1]
    assert rec["op"] == "foreground_mask" and rec["threshold"] == -500.0 and rec["voxels"] == int(out.data.sum())


@pytest.mark.parametrize("kwargs", [{"method": "kmeans"}, {"min_component_fraction": 2.0}, {"threshold": float("nan")}])
def test_bad_options_raise(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        foreground_mask(_ct_phantom(), **kwargs)


# -- real data ---------------------------------------------------------------------------
def test_real_ct_body_mask(ct_path: Path) -> None:
    img = _read(ct_path, modality="CT", units="HU")
    hu = img.data[0]
    m = foreground_mask(img)
    assert 0.45 < m.mean() < 0.62
    assert not m[:20, :20].any() and not m[-20:, -20:].any()  # air in the corners
    assert hu[150, 330, 24] < -900 and m[150, 330, 24]  # right lung: air, inside the body
    assert hu[370, 330, 24] < -500 and m[370, 330, 24]  # left lung
    lung_in_slice = (hu[:, :, 24] < -500) & m[:, :, 24]
    assert lung_in_slice.sum() > 20_000  # both lungs filled on the middle slice
    # thin structures above -500 HU outside the body (clothing, cushion edges) are left out
    outside = (hu > -500) & ~m
    assert outside.sum() > 0 and outside.sum() < 0.01 * m.sum()
    assert hu[m].mean() > -400  # not dominated by air


def test_real_mri_brain_mask(mni_path: Path) -> None:
    img = _read(mni_path, modality="MR")
    m = foreground_mask(img)
    raw = img.data[0] > 23.4  # the 10 % rule on this template (p0.1 = 0, p99.9 = 234)
    assert m[98, 116, 94] and not m[:5, :5, :5].any()
    assert (m & raw).sum() >= 0.995 * raw.sum()  # all bright tissue is in
    assert m.sum() < 1.1 * raw.sum()  # and little else
    assert 1.5e6 < m.sum() < 2.5e6


def test_real_fundus_disc() -> None:
    img = _read(shared_path("rgb/fundus_retina.jpg"), modality="XC", rgb=True)
    m = foreground_mask(img)[:, :, 0]
    n = m.shape[0]
    assert m[n // 2, n // 2] and not m[:40, :40].any() and not m[-40:, -40:].any()
    assert 0.7 < m.mean() < 0.82  # a disc filling most of the square


@pytest.mark.parametrize("modality", ["SM", "XC"])
def test_real_he_tissue_is_the_darker_class(modality: str) -> None:
    img = _read(shared_path("rgb/he_histology_1024.png"), modality=modality, rgb=True)
    m = foreground_mask(img)[:, :, 0]
    assert mask_image(img).meta.history[-1]["foreground"] == "below"
    lum = np.tensordot([0.299, 0.587, 0.114], img.data[:, :, :, 0], axes=(0, 0))
    assert lum[m].mean() < 170 < lum[~m].mean()  # tissue is darker than the glass
    assert not m[:40, 400:600].any()  # white background at the left edge (x small)
    assert 0.55 < m.mean() < 0.8
