"""Tests of medsr.metrics: exact values on synthetic arrays and agreement with the referee."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medsr.acquisition import degrade
from medsr.baselines import upsample
from medsr.errors import ConfigError, InvalidImageError
from medsr.evaluation import evaluate, evaluation_table
from medsr.image import Image, ImageMeta
from medsr.metrics import data_consistency_error, psnr, reference_mask, slice_profile, ssim
from tests.acquisition.referee_case import mni_case, our_upsample_scored, read_image


def _phantom(seed: int = 0) -> Image:
    rng = np.random.default_rng(seed)
    x, y, z = np.meshgrid(np.arange(20), np.arange(18), np.arange(16), indexing="ij")
    data = 100.0 * (((x - 10) / 7.0) ** 2 + ((y - 9) / 6.0) ** 2 + ((z - 8) / 6.0) ** 2 < 1)
    data = data + 20 * np.sin(x / 2.0) * (data > 0) + rng.normal(0, 1, data.shape)
    return Image(data[None].astype(np.float32), spacing=(1.0, 1.0, 1.0), origin=(-5.0, 2.0, 1.0))


def test_psnr_exact_values_and_mask() -> None:
    ref = np.zeros((1, 4, 4, 4))
    pred = ref.copy()
    pred[0, 0, 0, 0] = 10.0
    assert psnr(ref, pred, data_range=100.0) == pytest.approx(10 * np.log10(100**2 / (100 / 64)))
    mask = np.zeros((4, 4, 4), bool)
    mask[2:, 2:, 2:] = True
    assert psnr(ref, pred, mask, 100.0) == float("inf")
    with pytest.raises(InvalidImageError):
        psnr(ref, pred, np.zeros((4, 4, 4), bool), 100.0)
    with pytest.raises(InvalidImageError):
        psnr(ref, pred[:, :3], None, 100.0)


def test_reference_mask_follows_the_referee_rules() -> None:
    ref = np.zeros((1, 12, 12, 12))
    ref[0, 6, 6, 6] = 100.0
    m = reference_mask(ref, data_range=100.0, lo=0.0)
    assert m.sum() == 25  # one voxel dilated twice with the 6-neighbour cross: an L1 ball of radius 2
    ref[0, 1, 6, 6] = 100.0  # near the X border
    m = reference_mask(ref, data_range=100.0, lo=0.0, factors=(3, 1, 1))
    assert not m[:3].any() and not m[-3:].any() and m[6, 6, 6]
    m = reference_mask(ref, data_range=100.0, lo=0.0, factors=(1, 1, 2.5))  # ceil(2.5) = 3 slices
    assert not m[..., :3].any() and m[6, 6, 6] and m[6, 6, 4] and not m[6, 6, 3]


def test_rgb_mask_uses_the_channel_mean() -> None:
    ref = np.zeros((3, 10, 10, 1))
    ref[0, 5, 5] = 90.0  # mean 30 > lo + 0.1 * 100
    ref[1, 2, 2] = 25.0  # mean 8.3 < 10
    m = reference_mask(ref, data_range=100.0, lo=0.0)
    assert m[5, 5, 0] and not m[2, 2, 0]


def test_ssim_is_symmetric_in_axis_order_and_masks_the_map() -> None:
    a = _phantom(0).data
    b = _phantom(1).data
    whole, inside = ssim(a, b, 100.0, a[0] > 50)
    from skimage.metrics import structural_similarity

    zyx = structural_similarity(
        a[0].transpose(2, 1, 0).astype(np.float64), b[0].transpose(2, 1, 0).astype(np.float64), data_range=100.0
    )
    assert whole == pytest.approx(zyx, abs=1e-12)
    assert inside is not None and inside != pytest.approx(whole)
    assert ssim(a, a, 100.0) == (pytest.approx(1.0), None)


def test_slice_profile_per_slice_psnr() -> None:
    ref = np.zeros((1, 3, 3, 4))
    pred = ref.copy()
    pred[0, :, :, 1] = 1.0
    prof = slice_profile(ref, pred, np.ones((3, 3, 4), bool), 2, 10.0)
    assert np.isinf(prof[0]) and prof[1] == pytest.approx(20.0)
    mask = np.ones((3, 3, 4), bool)
    mask[..., 3] = False
    assert np.isnan(slice_profile(ref, pred, mask, 2, 10.0)[3])


def test_data_consistency_error() -> None:
    hr = _phantom()
    lr = degrade(hr, (1, 1, 4))
    exact = upsample(lr, factors=(1, 1, 4), method="nearest")  # repeats every slice: exactly consistent
    assert data_consistency_error(lr, exact) == pytest.approx(0.0, abs=1e-7)
    assert data_consistency_error(lr, hr) == pytest.approx(0.0, abs=1e-7)  # the truth itself
    blurred = upsample(lr, factors=(1, 1, 4), method="linear")
    err = data_consistency_error(lr, blurred)
    down = degrade(blurred, (1, 1, 4))
    assert err == pytest.approx(np.linalg.norm(down.data - lr.data) / np.linalg.norm(lr.data), rel=1e-5)
    assert err > 0.001
    with pytest.raises(ConfigError):
        data_consistency_error(hr, lr)


def test_data_consistency_uses_the_recorded_slice_thickness() -> None:
    hr = _phantom()
    lr = degrade(hr, (1, 1, 4), thickness_mm=2.0)
    assert lr.meta.slice_thickness == 2.0
    assert data_consistency_error(lr, hr) == pytest.approx(0.0, abs=1e-7)
    assert data_consistency_error(lr, hr, thickness=4.0) > 0.01


def test_evaluate_resamples_and_names() -> None:
    hr = _phantom()
    lr = degrade(hr, (1, 1, 4))
    up = upsample(lr, factors=(1, 1, 4), method="linear")
    res = evaluate(hr, [up, lr, hr], names=["linear", "lr", "linear"], factors=(1, 1, 4))
    preds = res["predictions"]
    assert list(preds) == ["linear", "lr", "linear#2"]
    assert preds["linear"]["resampled"] is False and preds["lr"]["resampled"] is True
    assert preds["lr"]["psnr"] == pytest.approx(preds["linear"]["psnr"], abs=0.05)  # linear both ways
    assert preds["linear#2"]["psnr"] is None and preds["linear#2"]["ssim"] == pytest.approx(1.0)
    assert res["slice_axis"] == 2 and len(preds["linear"]["slice_profile"]) == 16
    assert res["mask"]["method"] == "threshold" and res["mask"]["voxels"] == preds["linear"]["mask_voxels"]
    json.dumps(res)  # JSON-able
    rows = evaluation_table(res)
    assert [r["name"] for r in rows] == ["linear", "lr", "linear#2"]
    assert set(rows[0]) >= {"psnr", "ssim", "ssim_mask", "mask_voxels", "resampled", "data_range"}


def test_evaluate_masks_and_errors() -> None:
    hr = _phantom()
    given = np.zeros(hr.shape, bool)
    given[5:15, 5:13, 4:12] = True
    res = evaluate(hr, hr.copy(), mask=given)
    assert res["mask"] == {"method": "given", "voxels": int(given.sum())}
    otsu = evaluate(hr, hr.copy(), mask="otsu", factors=(1, 1, 2))
    assert otsu["mask"]["method"] == "otsu" and otsu["mask"]["voxels"] > 0
    with pytest.raises(ConfigError):
        evaluate(hr, hr, mask="random")
    with pytest.raises(InvalidImageError):
        evaluate(hr, hr, mask=given[:-1])
    rgb = Image(np.zeros((3, 20, 18, 16), np.float32))
    with pytest.raises(InvalidImageError):
        evaluate(hr, rgb)
    with pytest.raises(ConfigError):
        evaluate(hr, [hr], names=["a", "b"])


def test_evaluate_two_dimensional_rgb() -> None:
    rng = np.random.default_rng(5)
    data = np.zeros((3, 40, 30, 1), np.float32)
    data[:, 8:32, 6:24] = rng.uniform(50, 200, (3, 24, 18, 1))
    ref = Image(data, meta=ImageMeta(rgb=True, spatial_dims=2, modality="XC"))
    pred = ref.with_data(data + rng.normal(0, 2, data.shape).astype(np.float32))
    res = evaluate(ref, pred, factors=(2, 2))
    r = res["predictions"]["prediction1"]
    assert 30 < r["psnr"] < 45 and 0 < r["ssim"] < 1 and res["slice_axis"] == 0


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize("method", ["bspline", "linear"])
def test_evaluate_agrees_with_referee_score(tmp_path_factory: pytest.TempPathFactory, method: str) -> None:
    case = mni_case(tmp_path_factory, (1, 1, 4))
    up, score = our_upsample_scored(tmp_path_factory, case, method)
    res = evaluate(read_image(case / "hr.nii.gz"), [up], names=[method], mask="threshold", factors=(1, 1, 4))
    ours = res["predictions"][method]
    assert abs(ours["psnr"] - score["psnr"]) <= 0.01
    assert abs(ours["ssim"] - score["ssim"]) <= 1e-3
    assert ours["mask_voxels"] == score["mask_voxels"]
    assert ours["resampled"] is score["resampled"] is False


def test_training_validation_scores_are_medsr_evaluate_scores() -> None:
    """Bundle metrics (train/validate.py) and ``medsr evaluate`` compute the same PSNR/SSIM."""
    from medsr.evaluation import evaluate
    from medsr.image import Image
    from medsr.train.validate import referee_scores

    rng = np.random.default_rng(3)
    ref = rng.random((1, 20, 18, 16)) * 100
    pred = ref + rng.normal(0, 2, ref.shape)
    mine = referee_scores(ref, pred, (1, 1, 4))
    theirs = evaluate(Image(ref.astype(np.float32)), Image(pred.astype(np.float32)), factors=(1, 1, 4))
    scores = next(iter(theirs["predictions"].values()))
    assert mine["psnr"] == pytest.approx(scores["psnr"], abs=1e-3)
    assert mine["ssim"] == pytest.approx(scores["ssim"], abs=1e-4)
