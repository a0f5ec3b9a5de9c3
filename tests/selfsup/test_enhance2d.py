"""Zero-data 2D enhance: its pairs, its projector, its plan, the API and the CLI, and the gain on
a real radiograph; ``predict --adapt``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medsr.acquisition.consistency import Consistency, Separable
from medsr.acquisition.profile import SliceProfile
from medsr.cli.main import main
from medsr.errors import ConfigError, InvalidImageError
from medsr.image import Image, ImageMeta
from medsr.io import read, write
from medsr.selfsup.operators import AxisOperators
from medsr.selfsup.pairs import JOINT, PlaneSampler
from medsr.selfsup.plan2d import MIN_COPY_PX, plan_image
from tests.conftest import shared_path


def _texture(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.linspace(-1, 1, shape[0]), np.linspace(-1, 1, shape[1]), indexing="ij")
    img = 100 + 60 * ((x**2 + y**2) < 0.5) + 30 * np.sin(9 * x) * np.cos(7 * y) + rng.normal(0, 1, shape)
    return img.astype(np.float32)


# -- pairs ----------------------------------------------------------------------------------------
def test_joint_pairs_degrade_both_axes_exactly() -> None:
    planes = np.random.default_rng(1).random((2, 40, 36)).astype(np.float32)
    prof = SliceProfile("rect", 4.0)
    s = PlaneSampler(planes, {0: (4.0, 4.0), 1: (4.0, 4.0)}, prof, patch=16, joint=True)
    ops = [AxisOperators.build(prof, n_hr=n, spacing_hr=1.0, spacing_lr=4.0) for n in (40, 36)]
    want = np.matmul(np.matmul(ops[0].A, planes), ops[1].A.T)
    assert s.axes == [JOINT] and s.transpose
    np.testing.assert_allclose(s.inputs[JOINT], want, atol=1e-5)
    x, y = s.batch(5)
    assert tuple(x.shape) == tuple(y.shape) == (5, 1, 16, 16)


def test_lowres_pairs_are_block_means_and_stack_channels() -> None:
    planes = np.random.default_rng(2).random((3, 42, 37)).astype(np.float32)
    s = PlaneSampler(
        planes, {0: (4.0, 4.0), 1: (4.0, 4.0)}, SliceProfile("rect", 4.0), patch=16, joint=True, lowres=True, stack=True
    )
    assert s.planes.shape == (3, 40, 36)  # whole blocks only
    x, y = s.batch(4)
    assert tuple(x.shape) == (4, 3, 4, 4) and tuple(y.shape) == (4, 3, 16, 16)
    np.testing.assert_allclose(y.numpy().reshape(4, 3, 4, 4, 4, 4).mean((3, 5)), x.numpy(), atol=1e-5)
    with pytest.raises(ConfigError, match="integer factors"):
        PlaneSampler(planes, {0: (2.5, 2.5), 1: (2.5, 2.5)}, SliceProfile("rect", 2.5), joint=True, lowres=True)


def test_separable_projection_is_the_kronecker_pseudo_inverse() -> None:
    rng = np.random.default_rng(3)
    ops = [AxisOperators.build(SliceProfile("gaussian", 3.0), n_hr=n, spacing_hr=1.0, spacing_lr=2.0) for n in (8, 6)]
    dc = Separable(tuple(Consistency(W=o.W, P=o.P) for o in ops), axes=(0, 1))
    x, y = rng.random((8, 6)), rng.random((4, 3))
    W = np.kron(ops[0].W, ops[1].W)
    want = x.ravel() + np.linalg.pinv(W) @ (y.ravel() - W @ x.ravel())
    np.testing.assert_allclose(dc.project(x, y).ravel(), want, rtol=1e-4, atol=1e-4)  # the projector's ridge
    np.testing.assert_allclose(dc.degrade(dc.project(x, y)), y, atol=1e-4)


# -- plan -----------------------------------------------------------------------------------------
def test_plan_image_factors_profile_and_refusals() -> None:
    img = Image(np.zeros((1, 200, 160, 1), np.float32), spacing=(0.3, 0.2, 1.0), meta=ImageMeta(spatial_dims=2))
    p = plan_image(img, factors=(2, 4), profile="gaussian")
    assert p.output_grid.shape == (400, 640, 1)
    np.testing.assert_allclose(p.output_grid.spacing[:2], (0.15, 0.05))
    assert p.train_factors == {0: (2.0, 2.0), 1: (4.0, 4.0)}
    assert p.fine_profile(1) == SliceProfile("gaussian", 4.0)
    assert plan_image(img, spacing=(0.1, 0.1)).factors == pytest.approx((3.0, 2.0))
    with pytest.raises(ConfigError, match="--factors"):
        plan_image(img)
    with pytest.raises(ConfigError, match="factor 4 along Z"):
        plan_image(img, factors=(2, 2, 4))
    with pytest.raises(ConfigError, match="from 1 to 8"):
        plan_image(img, factors=(16, 16))
    tiny = Image(np.zeros((1, 100, 100, 1), np.float32), meta=ImageMeta(spatial_dims=2))
    with pytest.raises(InvalidImageError, match=f"under {MIN_COPY_PX}"):
        plan_image(tiny, factors=(4, 4))


# -- API --------------------------------------------------------------------------------------------
def test_enhance_grey_2d_is_consistent_and_calibrated() -> None:
    from medsr.selfsup.enhance import enhance

    img = Image(_texture((256, 240))[None, :, :, None], spacing=(0.5, 0.5, 1.0), meta=ImageMeta(spatial_dims=2))
    res = enhance(img, factors=(2, 2), steps=30, seed=0)
    assert res.image.shape == res.uncertainty.shape == (512, 480, 1)
    assert res.image.is_2d and np.allclose(res.image.spacing[:2], (0.25, 0.25))
    info = res.info
    assert info["kind"] == "2d" and info["method"].startswith("medsr.selfsup (ZSSR")
    assert info["data_consistency"]["relative_error_after"] < 1e-5
    assert info["uncertainty"]["calibration"]["calibrated"] is True
    assert info["training"]["augment"] == "flips and transposes" and info["training"]["steps"] == 30
    # the output reproduces the input when degraded as assumed (block means of 2 x 2)
    lr = res.image.data[0, :, :, 0].reshape(256, 2, 240, 2).mean((1, 3))
    np.testing.assert_allclose(lr, img.data[0, :, :, 0], atol=1e-2)
    assert float(res.uncertainty.data.min()) >= 0


def test_enhance_rgb_2d_keeps_colour_and_units() -> None:
    from medsr.selfsup.enhance import enhance

    rgb = np.stack([_texture((128, 128), s) for s in range(3)])[..., None]
    img = Image(rgb, meta=ImageMeta(spatial_dims=2, rgb=True))
    res = enhance(img, factors=(2, 2), steps=5)
    assert res.image.shape == (256, 256, 1) and res.image.channels == 3 and res.image.meta.rgb
    assert abs(float(res.image.data.mean()) - float(rgb.mean())) < 1.0  # units kept
    assert res.info["uncertainty"]["members"] == "4 flips"


def test_enhance_2d_refuses_a_thick_slice_init() -> None:
    from medsr.selfsup.enhance import enhance

    img = Image(_texture((128, 128))[None, :, :, None], meta=ImageMeta(spatial_dims=2))
    with pytest.raises(ConfigError, match="--adapt"):
        enhance(img, factors=(2, 2), steps=1, init="protocol.safetensors")


@pytest.mark.slow
def test_enhance_2d_beats_bspline_on_a_real_radiograph() -> None:
    """A 512² part of the shared radiograph, ×4 by the referee's convention (zero-data trains on
    nothing else, so any part is unseen to it)."""
    from medsr.baselines import upsample
    from medsr.evaluation import evaluate
    from medsr.geometry import degrade_grid
    from medsr.selfsup.enhance import enhance

    xr = read(shared_path("xray/chest_cr.dcm"))
    hr_data = np.ascontiguousarray(xr.data[:, 1324:1836, 600:1112], dtype=np.float32)
    hr = Image(hr_data, meta=ImageMeta(spatial_dims=2))
    lr = hr.with_data(hr_data.reshape(1, 128, 4, 128, 4, 1).mean((2, 4)), grid=degrade_grid(hr.grid, (4, 4, 1)))
    sr = enhance(lr, factors=(4, 4), steps=400, seed=0).image
    bs = upsample(lr, factors=(4, 4, 1), method="bspline")
    s = evaluate(hr, [bs, sr], names=["bs", "sr"], factors=(4, 4, 1))["predictions"]
    assert s["sr"]["psnr"] > s["bs"]["psnr"] + 0.1, s  # measured +0.19 dB (quantum noise caps ×4 here)
    assert s["sr"]["ssim"] >= s["bs"]["ssim"] - 1e-3, s


# -- CLI --------------------------------------------------------------------------------------------
def test_enhance_cli_png_writes_float_map_sidecar_and_report(tmp_path: Path) -> None:
    src = tmp_path / "photo.png"
    rgb = np.clip(np.stack([_texture((128, 112), s) for s in range(3)]), 0, 255)[..., None]
    write(Image(rgb, meta=ImageMeta(spatial_dims=2, rgb=True)), src, dtype="uint8")
    out = tmp_path / "photo_x2.png"
    rep = str(tmp_path / "rep")
    args = ["-q", "enhance", str(src), "-o", str(out), "--factors", "2", "2", "--steps", "3", "--report", rep]
    assert main(args) == 0
    assert read(out).shape == (256, 224, 1)
    unc = read(tmp_path / "photo_x2_uncertainty.nrrd")  # floats: NRRD beside the PNG
    assert unc.data.dtype == np.float32 and unc.shape == (256, 224, 1)
    side = json.loads((tmp_path / "photo_x2.json").read_text())
    assert side["kind"] == "2d" and side["uncertainty"]["files"]["uncertainty"].endswith("_uncertainty.nrrd")
    page = (tmp_path / "rep" / "report.html").read_text()
    assert page.count('"medsr": "data:image/png') >= 2  # the whole image and zoomed insets


def test_enhance_cli_refuses_tiny_2d_image(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "small.png"
    write(Image(np.full((1, 60, 60, 1), 9, np.float32), meta=ImageMeta(spatial_dims=2)), src, dtype="uint8")
    assert main(["enhance", str(src), "-o", str(tmp_path / "o.png"), "--factors", "4", "4"]) == 2
    err = capsys.readouterr().err
    assert "small.png" in err and "medsr predict" in err
    assert not (tmp_path / "o.png").exists()


# -- predict --adapt ----------------------------------------------------------------------------------
def test_adapt_zero_steps_is_the_bundle_and_steps_change_it() -> None:
    import torch

    from medsr.engine.adapt import adapt_bundle
    from medsr.engine.predict import predict

    img = Image((_texture((96, 96)) * 20)[None, :, :, None], meta=ImageMeta(spatial_dims=2))
    same = adapt_bundle(img, "xray-x4", steps=0)
    np.testing.assert_allclose(predict(img, same).data, predict(img, "xray-x4").data, rtol=1e-5, atol=1e-3)
    moved = adapt_bundle(img, "xray-x4", steps=3)
    a, b = (dict(m.model.named_parameters()) for m in (same, moved))
    assert any(not torch.equal(a[k], b[k]) for k in a)
    assert moved.meta.extra["adapted"]["steps"] == 3


def test_predict_adapt_cli_records_and_refuses(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "xr.nrrd"
    write(Image((_texture((96, 80)) * 20)[None, :, :, None], meta=ImageMeta(spatial_dims=2)), src)
    out = tmp_path / "sr.nrrd"
    assert main(["-q", "predict", "-i", str(src), "-o", str(out), "-m", "xray-x4", "--adapt", "0.5"]) == 0
    side = json.loads((tmp_path / "sr.json").read_text())
    assert side["adapted"]["steps"] >= 1 and "before adaptation" in side["adapted"]["calibration"]
    assert main(["predict", "-i", str(src), "-o", str(tmp_path / "b.nrrd"), "-m", "xray-x4", "--adapt", "0"]) == 2
    assert "--adapt" in capsys.readouterr().err and not (tmp_path / "b.nrrd").exists()
    vol = tmp_path / "vol.nrrd"
    write(Image(np.ones((1, 64, 64, 4), np.float32)), vol)
    assert main(["predict", "-i", str(vol), "-o", str(tmp_path / "v.nrrd"), "-m", "xray-x4", "--adapt", "1"]) == 2


def test_ct_slice_patches_centre_beyond_the_body() -> None:
    """The body mask (CT above -500 HU) would leave out the skin's and the circle's edges."""
    from medsr.image import ImageMeta
    from medsr.mask import training_mask
    from medsr.selfsup.run2d import _centres

    x, y = np.mgrid[:96, :96] - 47.5
    r = np.hypot(x, y)
    hu = np.where(r < 44, -1000.0, -3024.0)
    hu[r < 25] = 40.0
    img = Image(hu[None, :, :, None].astype(np.float32), meta=ImageMeta(modality="CT", units="HU", spatial_dims=2))
    body, centres = training_mask(img)[:, :, 0], _centres(img)
    assert body[48, 48] and not body[48, 85] and not body[48, 94]  # air is not body
    assert centres[48, 48] and centres[48, 85] and centres[48, 93] and not centres[48, 0]  # air and rim are
