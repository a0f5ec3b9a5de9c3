"""Tests of medsr.intensity: mode choice, exact inversion, recorded parameters."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medsr.errors import ConfigError, InvalidImageError
from medsr.image import Image, ImageMeta
from medsr.intensity import Normalizer


def _img(data: np.ndarray, **meta: object) -> Image:
    return Image(np.asarray(data, np.float32), meta=ImageMeta(**meta))


def test_ct_window_maps_the_hu_range_and_keeps_values_outside_it() -> None:
    img = _img(np.array([-2000.0, -1024.0, 0.0, 3071.0, 5000.0]).reshape(1, 5, 1, 1), modality="CT")
    norm = Normalizer.fit(img)
    assert norm.mode == "ct-window" and norm.lo == (-1024.0,) and norm.hi == (3071.0,)
    y = norm.forward(img.data.astype(np.float64))
    np.testing.assert_allclose(y.ravel(), (np.array([-2000, -1024, 0, 3071, 5000]) + 1024) / 4095, rtol=0, atol=1e-15)
    assert y.min() < 0 and y.max() > 1  # no clipping
    np.testing.assert_allclose(norm.inverse(y), img.data, rtol=0, atol=1e-9)


def test_ct_window_can_be_given_and_hu_units_choose_it() -> None:
    img = _img(np.zeros((1, 2, 2, 2)), modality="OT", units="HU")
    norm = Normalizer.fit(img, window=(-160, 240))
    assert norm.mode == "ct-window" and (norm.lo, norm.hi) == ((-160.0,), (240.0,))
    assert norm.params == {"window_hu": [-160.0, 240.0]}


def test_percentile_mode_records_exact_robust_window_for_mri() -> None:
    data = np.arange(1000, dtype=np.float32).reshape(1, 10, 10, 10)
    norm = Normalizer.fit(_img(data, modality="MR", source_dtype="int16"))
    assert norm.mode == "percentile"
    lo, hi = np.percentile(np.arange(1000.0), [0.5, 99.5])
    assert norm.lo == pytest.approx((lo,), abs=1e-9) and norm.hi == pytest.approx((hi,), abs=1e-9)
    assert norm.params["percentiles"] == [0.5, 99.5]
    x = data.astype(np.float64)
    np.testing.assert_allclose(norm.inverse(norm.forward(x)), x, rtol=0, atol=1e-10)


def test_fixed_modes_follow_the_source_dtype() -> None:
    rgb = _img(np.zeros((3, 4, 4, 1)), modality="XC", source_dtype="uint8", rgb=True, spatial_dims=2)
    n8 = Normalizer.fit(rgb)
    assert n8.mode == "fixed-8bit" and n8.lo == (0.0,) * 3 and n8.hi == (255.0,) * 3
    n16 = Normalizer.fit(_img(np.zeros((1, 4, 4, 1)), modality="SM", source_dtype="uint16"))
    assert n16.mode == "fixed-16bit" and n16.hi == (65535.0,)
    assert Normalizer.fit(_img(np.arange(8).reshape(1, 2, 2, 2), source_dtype="float32")).mode == "percentile"


def test_per_channel_percentiles_and_inverse_for_rgb() -> None:
    rng = np.random.default_rng(1)
    data = np.stack(
        [rng.uniform(0, 1, (16, 16, 1)), rng.uniform(100, 300, (16, 16, 1)), rng.uniform(-5, 5, (16, 16, 1))]
    )
    img = _img(data, modality="OT", rgb=True, spatial_dims=2)
    norm = Normalizer.fit(img, "percentile")
    y = norm.forward(data)
    for c in range(3):
        lo, hi = np.percentile(data[c], [0.5, 99.5])
        assert norm.lo[c] == pytest.approx(lo) and norm.hi[c] == pytest.approx(hi)
        assert np.percentile(y[c], 0.5) == pytest.approx(0.0, abs=1e-7)
        assert np.percentile(y[c], 99.5) == pytest.approx(1.0, abs=1e-7)
    np.testing.assert_allclose(norm.inverse(y), data, rtol=0, atol=1e-10)
    with pytest.raises(InvalidImageError):
        norm.forward(data[:2])


def test_dict_round_trip_is_json_and_exact() -> None:
    norm = Normalizer("percentile", (1.5, 2.0, -3.0), (10.0, 20.0, 3.0), {"percentiles": [0.5, 99.5]})
    back = Normalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    assert back == norm and back.params == norm.params
    x = np.random.default_rng(0).normal(size=(3, 4, 5, 6))
    np.testing.assert_array_equal(back.forward(x), norm.forward(x))


def test_float32_round_trip_and_image_history() -> None:
    img = _img(np.linspace(-1024, 3071, 60).reshape(1, 3, 4, 5), modality="CT")
    norm = Normalizer.fit(img)
    out = norm.forward_image(img)
    assert out.data.dtype == np.float32 and out.meta.history[-1]["op"] == "normalize"
    back = norm.inverse_image(out)
    assert np.abs(back.data - img.data).max() < 4095 * 2e-7
    assert back.meta.history[-1]["mode"] == "ct-window"


def test_flat_image_gets_a_unit_window() -> None:
    norm = Normalizer.fit(_img(np.full((1, 3, 3, 3), 7.0)), "percentile")
    assert norm.lo == (7.0,) and norm.hi == (8.0,)


@pytest.mark.parametrize(
    "bad",
    [
        {"mode": "zscore", "lo": [0], "hi": [1]},
        {"mode": "percentile", "lo": [1], "hi": [1]},
        {"mode": "percentile", "lo": [0, 0], "hi": [1]},
        {"mode": "percentile", "lo": [0]},
    ],
)
def test_invalid_records_raise_config_errors(bad: dict) -> None:
    with pytest.raises(ConfigError):
        Normalizer.from_dict(bad)


def test_unknown_fit_mode_and_bad_percentiles() -> None:
    img = _img(np.arange(8).reshape(1, 2, 2, 2))
    with pytest.raises(ConfigError):
        Normalizer.fit(img, "minmax")
    with pytest.raises(ConfigError):
        Normalizer.fit(img, "percentile", percentiles=(99, 1))


def test_real_ct_round_trip(ct_path: Path) -> None:
    import SimpleITK as sitk

    from medsr.sitk_bridge import from_sitk

    img = from_sitk(sitk.ReadImage(str(ct_path)), ImageMeta(modality="CT", units="HU"))
    norm = Normalizer.fit(img)
    y = norm.forward(img.data)
    assert norm.mode == "ct-window" and y.min() >= 0 and y.max() <= 1  # this scan stays in -1024…3071
    assert np.abs(norm.inverse(y) - img.data).max() < 1e-3
