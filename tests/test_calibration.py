"""The expected-error calibration (medsr.calibration) and the trust summary (medsr.trust), on
exact synthetic errors whose scale is known."""

from __future__ import annotations

import numpy as np
import pytest

from medsr.calibration import FEATURES, Calibration, decile_table, fit_calibration, flip_members
from medsr.trust import CT_THRESHOLD_HU, default_threshold, trust_summary, unsure_mask


def _synthetic(n: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Errors |N(0, σ)| with σ = 2·spread·grad^0.5 (the other features uninformative)."""
    rng = np.random.default_rng(seed)
    spread = rng.uniform(0.005, 0.2, n)
    grad = rng.uniform(0.01, 1.0, n)
    feats = {"spread": spread, "grad": grad, "dc": rng.uniform(0.001, 0.01, n), "sr_bs": rng.uniform(0.001, 0.1, n)}
    sigma = 2 * spread * np.sqrt(grad)
    return feats, np.abs(rng.normal(0, 1, n)) * sigma, sigma


def test_calibrated_deciles_read_as_the_error_they_stand_for() -> None:
    feats, err, _ = _synthetic(120_000, 0)
    cal = fit_calibration(feats, err, groups=np.arange(err.size) % 2)
    test_feats, test_err, sigma = _synthetic(60_000, 1)  # unseen draws
    exp = cal.expected(test_feats)
    for row in decile_table(exp, test_err):
        assert row["observed"] / row["predicted"] == pytest.approx(1.0, abs=0.1)
    assert np.mean(test_err <= cal.half_width(exp, 0.9)) == pytest.approx(0.9, abs=0.02)
    # the truth's mean |N(0, σ)| is σ·sqrt(2/π): the map recovers it voxel by voxel
    assert np.median(exp / (sigma * np.sqrt(2 / np.pi))) == pytest.approx(1.0, abs=0.1)
    assert cal.coverage == pytest.approx(0.9, abs=0.02)
    assert len(cal.table) == 10 and cal.voxels == err.size


def test_calibration_round_trips_through_json() -> None:
    feats, err, _ = _synthetic(20_000, 2)
    cal = fit_calibration(feats, err)
    again = Calibration.from_dict(cal.to_dict())
    assert np.allclose(again.expected(feats), cal.expected(feats), rtol=1e-3)  # 6 digits; ratio table
    assert sorted(again.quantiles) == [0.5, 0.8, 0.9, 0.95]
    assert set(cal.to_dict()["features"]) == set(FEATURES)
    with pytest.raises(ValueError, match="0.7"):
        cal.half_width(np.ones(3, np.float32), 0.7)


def test_flip_members_spread_is_zero_only_for_flip_equivariant_functions() -> None:
    x = np.random.default_rng(0).random((1, 6, 5)).astype(np.float32)
    m, s = flip_members(lambda a: np.repeat(a, 2, axis=1), x, (1, 2))  # equivariant upsampler
    assert np.allclose(m, np.repeat(x, 2, axis=1)) and float(s.max()) < 1e-6
    ramp = np.arange(5, dtype=np.float32)
    m, s = flip_members(lambda a: a + ramp, x, (1, 2))  # adds a ramp: flips disagree by it
    assert float(s.max()) > 1.0
    assert np.allclose(m, x + ramp.mean(), atol=1e-5)  # the ramp averages out over the flips
    calls: list[np.ndarray] = []
    m2, s2 = flip_members(lambda a: calls.append(a) or a + ramp, x, (1, 2), pair=True)
    assert len(calls) == 2 and np.array_equal(calls[1], x[:, ::-1, ::-1])  # identity and the 180° rotation
    assert np.allclose(m2, m, atol=1e-5) and np.allclose(s2, np.abs(ramp - ramp[::-1]) / 2 + 0 * x, atol=1e-5)


def test_trust_summary_thresholds_by_modality() -> None:
    assert default_threshold("CT", 2000.0) == (CT_THRESHOLD_HU, "the CT default")
    t, rule = default_threshold("MR", 1500.0)
    assert t == pytest.approx(75.0) and "window" in rule
    exp = np.full((10, 10, 4), 5.0, np.float32)
    exp[2:4, 2:4, 1] = 25.0
    fg = np.ones(exp.shape, bool)
    fg[:, :, 3] = False
    exp[:, :, 3] = 100.0  # background is never counted
    s = trust_summary(exp, fg, 20.0, "HU")
    assert s["unsure_voxels"] == 4 and s["unsure_fraction"] == pytest.approx(4 / 300)
    assert s["bounding_box"] == [[2, 3], [2, 3], [1, 1]]
    assert unsure_mask(exp, fg, 20.0).sum() == 4


def test_negative_or_nan_features_give_a_finite_map() -> None:
    rng = np.random.default_rng(1)
    s = rng.uniform(0.01, 0.1, 5000)
    cal = fit_calibration({k: s for k in FEATURES}, s * 2)
    bad = {k: np.array([0.05, -0.02, np.nan, 0.0], np.float32) for k in FEATURES}  # resampling lobes, a NaN
    out = cal.expected(bad)
    assert np.isfinite(out).all() and out[0] > out[1] == out[2] == out[3] > 0  # below 0 and NaN read as 0
