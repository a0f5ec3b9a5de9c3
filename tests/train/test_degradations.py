"""Random acquisition models: draws stay in their configured ranges; the reference model is the
referee's block mean."""

from __future__ import annotations

import numpy as np
import pytest

from medsr.train.config import DegradationConfig
from medsr.train.degradations import DegradationSampler, canonical_lr

SPACING = (0.5, 0.8, 5.0)


def _draws(cfg: DegradationConfig, n: int = 400) -> list[dict]:
    s = DegradationSampler(cfg, cfg.factors + [1.0] * (3 - len(cfg.factors)))
    rng = np.random.default_rng(1)
    return [s.draw(rng, SPACING) for _ in range(n)]


def test_thickness_profiles_and_probabilities_follow_the_ranges() -> None:
    cfg = DegradationConfig(
        factors=[2, 4],
        thickness_scale=[0.7, 1.3],
        profile_weights=[0.75, 0.25],
        blur_fwhm=[0.5, 1.0],
        blur_probability=0.5,
        noise="rician",
        noise_sigma=[0.01, 0.02],
        noise_probability=0.2,
        kspace_probability=0.1,
    )
    draws = _draws(cfg)
    tx = np.array([d["thickness_mm"][0] for d in draws]) / (2 * SPACING[0])
    ty = np.array([d["thickness_mm"][1] for d in draws]) / (4 * SPACING[1])
    for t in (tx, ty):
        assert t.min() >= 0.7 and t.max() <= 1.3
        assert t.min() < 0.75 and t.max() > 1.25  # the whole range is used
    assert all(d["thickness_mm"][2] is None for d in draws)  # factor 1: untouched
    rect = np.mean([d["profile"] == "rect" for d in draws])
    assert 0.68 < rect < 0.82
    blurred = [d["blur_mm"] for d in draws if d["blur_mm"] is not None]
    assert 0.4 < len(blurred) / len(draws) < 0.6
    assert all(0.5 * SPACING[0] <= b[0] <= 1.0 * SPACING[0] and b[2] is None for b in blurred)
    noisy = [d["noise"] for d in draws if d["noise"] is not None]
    assert 0.14 < len(noisy) / len(draws) < 0.26
    assert all(n["kind"] == "rician" and 0.01 <= n["sigma"] <= 0.02 for n in noisy)
    ks = [d["kspace"] for d in draws if d["kspace"] is not None]
    assert 0.05 < len(ks) / len(draws) < 0.16 and {k["window"] for k in ks} <= {"hann", "tukey"}


def test_fixed_rect_model_is_the_block_mean() -> None:
    cfg = DegradationConfig(factors=[2, 2], profiles=["rect"], thickness_scale=[1.0, 1.0])
    s = DegradationSampler(cfg, (2, 2, 1))
    hr = np.random.default_rng(0).random((1, 8, 6, 1)).astype(np.float32)
    draw = s.draw(np.random.default_rng(0), (1, 1, 1))
    lr = s.apply(hr, (1, 1, 1), draw)
    expected = hr.reshape(1, 4, 2, 3, 2, 1).mean(axis=(2, 4))
    np.testing.assert_allclose(lr, expected, atol=1e-6)
    np.testing.assert_allclose(canonical_lr(hr, (1, 1, 1), (2, 2, 1)), expected, atol=1e-6)


def test_wider_profiles_blur_more() -> None:
    hr = np.zeros((1, 32, 1, 1), np.float32)
    hr[0, ::2] = 1.0  # the finest stripes
    s = DegradationSampler(DegradationConfig(factors=[2, 1, 1], profiles=["gaussian"]), (2, 1, 1))
    base = {"profile": "gaussian", "blur_mm": None, "kspace": None, "noise": None, "seed": 0}
    narrow = s.apply(hr, (1, 1, 1), {**base, "thickness_mm": [1.4, None, None]})
    wide = s.apply(hr, (1, 1, 1), {**base, "thickness_mm": [2.6, None, None]})
    assert np.ptp(wide[0, 4:-4]) < np.ptp(narrow[0, 4:-4]) + 1e-6
    assert np.allclose(wide[0, 4:-4], 0.5, atol=0.05)


@pytest.mark.parametrize("kind", ["gaussian", "ct"])
def test_noise_sigma_is_a_fraction_of_the_window(kind: str) -> None:
    from medsr.intensity import Normalizer

    norm = Normalizer("ct-window", (-1000.0,), (1000.0,))
    hr = np.full((1, 64, 64, 1), 0.5, np.float32)  # water (0 HU) after normalisation
    s = DegradationSampler(DegradationConfig(factors=[2, 2], noise=kind), (2, 2, 1))
    draw = {
        "profile": "rect",
        "thickness_mm": [2.0, 2.0, None],
        "blur_mm": None,
        "kspace": None,
        "noise": {"kind": kind, "sigma": 0.01},
        "seed": 3,
    }
    lr = s.apply(hr, (1, 1, 1), draw, normalizer=norm)
    assert lr.shape == (1, 32, 32, 1)
    assert np.std(lr) == pytest.approx(0.01, rel=0.15)  # 20 HU of 2000 HU in water, either model


def test_jpeg_draws_compress_rgb_lr_patches() -> None:
    from medsr.intensity import Normalizer

    cfg = DegradationConfig(factors=[2, 2], profiles=["rect"], thickness_scale=[1.0, 1.0], jpeg_probability=1.0)
    s = DegradationSampler(cfg, (2.0, 2.0, 1.0))
    draw = s.draw(np.random.default_rng(0), spacing=(1.0, 1.0, 1.0))
    assert 60 <= draw["jpeg"] <= 95
    patch = np.random.default_rng(1).random((3, 32, 32, 1)).astype(np.float32)
    norm = Normalizer("fixed-8bit", (0.0,) * 3, (255.0,) * 3, {})
    lr = s.apply(patch, (1.0, 1.0, 1.0), draw, norm)
    plain = s.apply(patch, (1.0, 1.0, 1.0), {**draw, "jpeg": None}, norm)
    assert lr.shape == plain.shape == (3, 16, 16, 1)
    assert 1e-3 < float(np.abs(lr - plain).mean()) < 0.2
    assert s.describe()["jpeg_quality"] == [60, 95]
