"""Tests of medsr.acquisition.noise: Gaussian, Rician and CT (variance ∝ attenuation) models."""

from __future__ import annotations

import numpy as np
import pytest

from medsr.acquisition.noise import NoiseModel
from medsr.errors import ConfigError


def test_gaussian_statistics_and_seed() -> None:
    x = np.full((200, 200), 50.0)
    y = NoiseModel("gaussian", 3.0).apply(x, seed=7)
    assert abs(y.mean() - 50) < 0.05 and abs(y.std() - 3.0) < 0.05
    assert np.array_equal(y, NoiseModel("gaussian", 3.0).apply(x, seed=7))


def test_rician_background_is_rayleigh_and_signal_is_biased() -> None:
    m = NoiseModel.parse("rician:2")
    bg = m.apply(np.zeros((300, 300)), seed=0)
    assert bg.min() >= 0 and abs(bg.mean() - 2 * np.sqrt(np.pi / 2)) < 0.02
    sig = m.apply(np.full((300, 300), 20.0), seed=1)
    assert abs(np.mean(sig**2) - (400 + 2 * 4)) < 1.0  # E|x + n|² = A² + 2σ²


def test_ct_noise_variance_follows_attenuation() -> None:
    m = NoiseModel.parse({"kind": "ct", "sigma": 10})
    hu = np.concatenate([np.full(100_000, -1000.0), np.full(100_000, 0.0), np.full(100_000, 1000.0)])
    y = m.apply(hu, seed=2) - hu
    air, water, bone = y[:100_000], y[100_000:200_000], y[200_000:]
    assert np.all(air == 0)
    assert abs(water.std() - 10) < 0.1 and abs(bone.std() - 10 * np.sqrt(2)) < 0.15


@pytest.mark.parametrize("spec", ["poisson:3", "gaussian", "gaussian:-1", {"kind": "rician"}, 3.0])
def test_bad_specs(spec: object) -> None:
    with pytest.raises(ConfigError):
        NoiseModel.parse(spec)  # type: ignore[arg-type]


def test_record_round_trip() -> None:
    m = NoiseModel("rician", 8.0)
    assert NoiseModel.parse(m.to_dict()) == m and NoiseModel.parse(m) is m
