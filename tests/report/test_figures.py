"""Tests of medsr.report.figures: PNGs are written atomically, slices are oriented and chosen right."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medsr.acquisition import degrade
from medsr.baselines import upsample
from medsr.errors import ConfigError, OutputError
from medsr.evaluation import evaluate
from medsr.image import Image, ImageMeta
from medsr.report.figures import _plane, _slicing_axis, comparison_figure, slice_profile_plot
from tests.acquisition.referee_case import read_image


def _png_size(path: Path) -> tuple[int, int]:
    from PIL import Image as PILImage

    with PILImage.open(path) as im:
        assert im.format == "PNG"
        arr = np.asarray(im.convert("L"))
        assert arr.std() > 10  # not a blank canvas
        return im.size


def _head(shape: tuple[int, int, int] = (24, 28, 32)) -> Image:
    x, y, z = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    data = 100.0 * (x**2 + y**2 + z**2 < 0.8) + 30 * np.cos(6 * z) * (x**2 + y**2 + z**2 < 0.5)
    return Image(data[None].astype(np.float32), spacing=(1.0, 1.0, 1.0), meta=ImageMeta(modality="MR"))


def test_comparison_figure_writes_a_png_atomically(tmp_path: Path) -> None:
    hr = _head()
    lr = degrade(hr, (1, 1, 4))
    preds = [upsample(lr, factors=(1, 1, 4), method=m) for m in ("linear", "bspline")]
    res = evaluate(hr, preds, names=["linear", "bspline"], factors=(1, 1, 4))
    out = comparison_figure(hr, preds, ["linear", "bspline"], tmp_path / "cmp.png", scores=res, title="test")
    assert out == tmp_path / "cmp.png"
    width, height = _png_size(out)
    assert width > height > 300
    assert [p.name for p in tmp_path.iterdir()] == ["cmp.png"]  # no temporary file left behind


def test_other_grids_are_resampled_and_2d_rgb_works(tmp_path: Path) -> None:
    hr = _head()
    lr = degrade(hr, (1, 1, 4))
    comparison_figure(hr, [lr], ["lr"], tmp_path / "lr.png", window=(0, 120), slice_index=3)
    rgb = Image(
        np.random.default_rng(0).uniform(0, 255, (3, 40, 30, 1)).astype(np.float32),
        spacing=(0.5, 0.5, 1.0),
        meta=ImageMeta(rgb=True, spatial_dims=2, modality="XC"),
    )
    comparison_figure(rgb, [rgb], ["same"], tmp_path / "rgb.png", crop=False)
    assert _png_size(tmp_path / "rgb.png")[0] > 0


def test_default_view_contains_the_upsampled_axis() -> None:
    hr = _head()
    up = upsample(degrade(hr, (1, 1, 4)), factors=(1, 1, 4))
    assert _slicing_axis(hr, [up], None, None) == 1  # coronal: X horizontal, Z vertical
    assert _slicing_axis(hr, [hr], None, (4, 1, 1)) == 1
    assert _slicing_axis(hr, [hr], None, (1, 3, 1)) == 0
    thick = Image(np.zeros((1, 8, 8, 4), np.float32), spacing=(1, 1, 5))
    assert _slicing_axis(thick, [], None, None) == 1
    assert _slicing_axis(hr, [], 2, None) == 2


def test_planes_put_superior_up_and_patient_left_on_the_right() -> None:
    data = np.zeros((1, 3, 4, 5), np.float32)
    data[0, 2, 0, 4] = 1.0  # largest x (patient left in LPS) and largest z (superior)
    lps = Image(data)
    coronal = _plane(lps, 1, 0)  # rows = z, cols = x
    assert coronal.shape == (5, 3) and coronal[0, -1] == 1.0  # top right
    ras = Image(data, direction=np.diag([-1.0, -1.0, 1.0]))  # x now points to the right
    assert _plane(ras, 1, 0)[0, 0] == 1.0  # top left
    axial = _plane(lps, 2, 4)  # rows = y (anterior up), cols = x
    assert axial.shape == (4, 3) and axial[0, -1] == 1.0  # y = 0 is the most anterior row


def test_slice_profile_plot(tmp_path: Path) -> None:
    hr = _head()
    up = upsample(degrade(hr, (1, 1, 4)), factors=(1, 1, 4), method="linear")
    res = evaluate(hr, [up], names=["linear"], factors=(1, 1, 4))
    out = slice_profile_plot(res, tmp_path / "profile.png", title="per-slice PSNR")
    assert _png_size(out)[0] > 500
    slice_profile_plot({"a": [20.0, None, 25.0]}, tmp_path / "plain.png")


def test_errors(tmp_path: Path) -> None:
    hr = _head()
    with pytest.raises(OutputError):
        comparison_figure(hr, [hr], ["a"], tmp_path / "missing" / "x.png")
    with pytest.raises(ConfigError):
        comparison_figure(hr, [hr], ["a", "b"], tmp_path / "x.png")
    with pytest.raises(ConfigError):
        comparison_figure(hr, [hr], ["a"], tmp_path / "x.png", slice_index=99)
    with pytest.raises(ConfigError):
        slice_profile_plot({}, tmp_path / "x.png")


@pytest.mark.shared
def test_mni_comparison_figure(tmp_path: Path, mni_path: Path) -> None:
    hr = read_image(mni_path)
    lr = degrade(hr, (1, 1, 4))
    hr_crop = hr.with_data(hr.data[..., :188])  # the grid the 47 slices cover
    up = upsample(lr, factors=(1, 1, 4), method="bspline")
    assert up.shape == hr_crop.shape
    out = comparison_figure(
        hr_crop, [up], ["bspline"], tmp_path / "mni.png", scores={"bspline": {"psnr": 25.65, "ssim": 0.9708}}
    )
    width, height = _png_size(out)
    assert 600 < width < 2000 and 400 < height < 2000
