"""Tests of medsr.acquisition.kspace: band limits, windows and the LR grid convention."""

from __future__ import annotations

import numpy as np
import pytest

from medsr.acquisition.kspace import band_window, kspace_matrix
from medsr.errors import ConfigError


@pytest.mark.parametrize("n, f", [(48, 4.0), (50, 2.5), (33, 3.0)])
def test_in_band_cosines_are_sampled_at_the_block_centres(n: int, f: float) -> None:
    K = kspace_matrix(n, f)
    n_lr = int(np.floor(n / f))
    assert K.shape == (n_lr, n)
    p = np.arange(n_lr) * f + (f - 1) / 2
    i = np.arange(n)
    for k in (0, 1, 2, int(n / (2 * f)) - 1):
        for trig in (np.cos, np.sin):
            np.testing.assert_allclose(K @ trig(2 * np.pi * k * i / n), trig(2 * np.pi * k * p / n), atol=1e-10)


def test_out_of_band_frequencies_are_removed() -> None:
    n, f = 64, 4.0
    K = kspace_matrix(n, f, same_grid=True)
    i = np.arange(n)
    high = np.cos(2 * np.pi * 20 * i / n)  # 20 cycles > n / (2 f) = 8
    np.testing.assert_allclose(K @ high, 0.0, atol=1e-10)
    edge = np.cos(2 * np.pi * 8 * i / n)  # exactly at the band edge: half weight
    np.testing.assert_allclose(K @ edge, 0.5 * edge, atol=1e-10)


@pytest.mark.parametrize("window", ["none", "hann", "tukey"])
def test_constants_are_kept_for_every_window(window: str) -> None:
    K = kspace_matrix(40, 2.0, window=window, alpha=0.3)
    np.testing.assert_allclose(K.sum(axis=1), 1.0, atol=1e-12)


def test_hann_attenuates_high_in_band_frequencies() -> None:
    n, f = 64, 2.0  # band |k| <= 16
    i = np.arange(n)
    x = np.cos(2 * np.pi * 8 * i / n)
    p = np.arange(32) * f + (f - 1) / 2
    y = kspace_matrix(n, f, window="hann") @ x
    np.testing.assert_allclose(y, 0.5 * np.cos(2 * np.pi * 8 * p / n), atol=1e-10)  # hann(8/16) = 0.5
    w = band_window(np.array([0.0, 4.0, 12.0, 16.0, 17.0]), 16.0, "tukey", alpha=0.5)
    np.testing.assert_allclose(w, [1.0, 1.0, 0.5, 0.0, 0.0], atol=1e-12)


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError):
        kspace_matrix(10, 0.5)
    with pytest.raises(ConfigError):
        band_window(np.zeros(3), 1.0, "kaiser")
    with pytest.raises(ConfigError):
        band_window(np.zeros(3), 1.0, "tukey", alpha=2.0)
