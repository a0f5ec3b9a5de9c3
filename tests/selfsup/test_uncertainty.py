"""enhance's expected-error map: calibrated on held-out planes, in the image's units, higher where
the truth says the errors are higher; the held-out planes never train."""

from __future__ import annotations

import numpy as np
import pytest

from medsr.acquisition.profile import SliceProfile
from medsr.selfsup.calibrate import holdout_planes
from medsr.selfsup.enhance import enhance
from medsr.selfsup.pairs import PlaneSampler

from .helpers import phantom, thick


@pytest.fixture(scope="module")
def noisy_half() -> tuple:
    hr, lr = thick(phantom((48, 48, 48), seed=3), axis=2, f=4, t=4)
    data = lr.data.copy()
    data[0, :24] += np.random.default_rng(0).normal(0, 40, data[0, :24].shape).astype(np.float32)
    lr = lr.with_data(data)
    return hr, lr, enhance(lr, steps=150, threads=1, seed=0)


def test_map_is_calibrated_and_follows_the_noise(noisy_half: tuple) -> None:
    hr, lr, res = noisy_half
    info = res.info["uncertainty"]
    assert info["map"] == "expected |error| (calibrated)"
    assert info["calibration"]["calibrated"] and info["calibration"]["held_out_planes"] >= 2
    err = np.abs(res.image.data[0] - hr.data[0])
    u = res.uncertainty.data[0]
    fg = res.foreground
    noisy, clean = fg.copy(), fg.copy()
    noisy[24:], clean[:24] = False, False
    assert err[noisy].mean() > 1.5 * err[clean].mean()  # the truth: 1.9x here
    # the map sees where the input is noisy (1.34x here: two held-out planes, 150 steps)
    assert u[noisy].mean() > 1.2 * u[clean].mean()
    assert 0.5 < u[fg].mean() / err[fg].mean() < 2.0  # in error units, not a rank
    deciles = info["calibration"]["model"]["deciles"]
    assert len(deciles) == 10 and all(d["observed"] > 0 for d in deciles)
    half = res.interval(0.9).data[0]
    q = info["calibration"]["model"]["interval_quantiles"]["0.9"]
    assert np.allclose(half, q * u, rtol=1e-3)  # the sidecar rounds q to 4 digits
    trust = info["trust"]
    assert 0 <= trust["unsure_fraction"] <= 1 and trust["foreground_voxels"] == int(fg.sum())


def test_held_out_planes_never_train() -> None:
    mask = np.zeros((30, 8, 8), bool)
    mask[3:27] = True
    held = holdout_planes(mask)
    assert len(held) == 2 and set(held) <= set(range(3, 27))
    vol = np.random.default_rng(0).random((30, 8, 8)).astype(np.float32)
    s = PlaneSampler(vol, {0: (2.0, 2.0), 1: (2.0, 2.0)}, SliceProfile("rect", 2.0), patch=8, exclude=held)
    assert not set(s.slices) & set(held) and len(s.slices) == 28
    assert len(holdout_planes(np.ones((3, 4, 4), bool))) == 0  # too few planes: nothing held out
