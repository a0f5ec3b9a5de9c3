"""PNG / TIFF / JPEG: channels, depth, alpha, palettes, resolution tags, output depth rules."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from medsr.errors import OutputError
from medsr.image import Image, ImageMeta
from medsr.io import read, write
from tests.conftest import shared_path


def _hwc(img: Image) -> np.ndarray:
    return img.data[:, :, :, 0].transpose(2, 1, 0)  # (H, W, C)


def test_fundus_jpeg_is_rgb_photo() -> None:
    img = read(shared_path("rgb/fundus_retina.jpg"))
    assert img.shape == (1411, 1411, 1) and img.channels == 3 and img.meta.rgb
    assert img.meta.spatial_dims == 2 and img.meta.modality == "XC" and img.meta.source_dtype == "uint8"
    assert img.meta.source_format == "jpeg"
    centre = img.data[:, 500:900, 500:900, 0].reshape(3, -1).mean(axis=1)
    assert centre[0] > centre[1] > centre[2]  # a fundus is red, then green, little blue


def test_he_png_is_rgb_histology() -> None:
    img = read(shared_path("rgb/he_histology_1024.png"))
    assert img.shape == (1024, 1024, 1) and img.channels == 3 and img.meta.modality == "XC"
    mean = img.data.reshape(3, -1).mean(axis=1)
    assert mean[0] > mean[1] and mean[2] > mean[1]  # eosin pink / haematoxylin purple: green lowest
    np.testing.assert_allclose(img.spacing, 1.0)


def test_grey_pngs_8_and_16_bit(tmp_path: Path) -> None:
    from PIL import Image as PILImage

    grey8 = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    PILImage.fromarray(grey8).save(tmp_path / "g8.png")
    img = read(tmp_path / "g8.png")
    assert img.channels == 1 and not img.meta.rgb and img.meta.modality == "OT" and img.shape == (4, 3, 1)
    np.testing.assert_array_equal(_hwc(img)[..., 0], grey8)
    grey16 = np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000
    PILImage.fromarray(grey16).save(tmp_path / "g16.png")
    img16 = read(tmp_path / "g16.png")
    assert img16.meta.source_dtype == "uint16"
    np.testing.assert_array_equal(_hwc(img16)[..., 0], grey16)


def test_alpha_is_dropped_and_palettes_expanded(tmp_path: Path) -> None:
    from PIL import Image as PILImage

    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 77, 128
    PILImage.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    img = read(tmp_path / "rgba.png")
    assert img.channels == 3 and float(img.data[0].max()) == 77 and float(img.data[1:].max()) == 0
    PILImage.fromarray(rgba[..., :3]).convert("P").save(tmp_path / "pal.png")
    assert read(tmp_path / "pal.png").channels == 3
    PILImage.fromarray(rgba[..., [0, 3]], "LA").save(tmp_path / "la.png")
    la = read(tmp_path / "la.png")
    assert la.channels == 1 and float(la.data.max()) == 77


def test_16_bit_rgb_png_round_trip(tmp_path: Path) -> None:
    data = np.random.default_rng(0).integers(0, 65535, (3, 7, 5, 1)).astype(np.float32)
    img = Image(data, meta=ImageMeta(spatial_dims=2, rgb=True, source_dtype="uint16"))
    back = read(write(img, tmp_path / "rgb16.png"))
    assert back.meta.source_dtype == "uint16" and back.meta.rgb
    np.testing.assert_array_equal(back.data, data)


def test_tiff_resolution_tags_give_spacing(tmp_path: Path) -> None:
    import tifffile

    tifffile.imwrite(
        tmp_path / "inch.tif", np.zeros((4, 6), np.uint16), resolution=(254.0, 127.0), resolutionunit="INCH"
    )
    np.testing.assert_allclose(read(tmp_path / "inch.tif").spacing, [0.1, 0.2, 1.0])
    tifffile.imwrite(tmp_path / "none.tif", np.zeros((4, 6), np.uint8))
    np.testing.assert_allclose(read(tmp_path / "none.tif").spacing, 1.0)


def test_tiff_round_trip_keeps_spacing_and_values(tmp_path: Path) -> None:
    data = np.random.default_rng(1).integers(0, 4000, (1, 9, 7, 1)).astype(np.float32)
    img = Image(data, spacing=(0.25, 0.5, 1.0), meta=ImageMeta(spatial_dims=2, source_dtype="uint16"))
    back = read(write(img, tmp_path / "a.tiff", dtype="input"))
    np.testing.assert_array_equal(back.data, data)
    np.testing.assert_allclose(back.spacing, [0.25, 0.5, 1.0], rtol=1e-6)


def test_tiff_stack_becomes_z(tmp_path: Path) -> None:
    import tifffile

    stack = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="minisblack")
    img = read(tmp_path / "stack.tif")
    assert img.shape == (4, 3, 2) and img.meta.spatial_dims == 3
    np.testing.assert_array_equal(img.data[0], stack.transpose(2, 1, 0))


@pytest.mark.parametrize(
    "values,source,expected",
    [
        ([0.0, 254.6], "float32", "uint8"),
        ([0.0, 300.0], "float32", "uint16"),
        ([0.0, 10.0], "uint16", "uint16"),
    ],
)
def test_output_depth_rules(tmp_path: Path, values: list[float], source: str, expected: str) -> None:
    data = np.array(values, np.float32).reshape(1, 2, 1, 1)
    img = Image(data, meta=ImageMeta(spatial_dims=2, source_dtype=source))
    back = read(write(img, tmp_path / "d.png"))
    assert back.meta.source_dtype == expected
    np.testing.assert_array_equal(back.data, np.rint(data))


def test_explicit_uint8_clips_and_warns(tmp_path: Path, caplog: Any) -> None:
    data = np.array([-5.0, 100.4, 400.0], np.float32).reshape(1, 3, 1, 1)
    img = Image(data, meta=ImageMeta(spatial_dims=2))
    with caplog.at_level(logging.WARNING, logger="medsr"):
        back = read(write(img, tmp_path / "c.png", dtype="uint8"))
    assert back.data.reshape(-1).tolist() == [0.0, 100.0, 255.0]
    assert any("clipped" in r.getMessage() for r in caplog.records)


def test_png_refuses_volumes_and_odd_channels(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="TIFF stack"):
        write(Image(np.zeros((1, 4, 4, 3), np.float32)), tmp_path / "v.png")
    with pytest.raises(OutputError, match="channels"):
        write(Image(np.zeros((2, 4, 4, 1), np.float32)), tmp_path / "two.png")
    with pytest.raises(OutputError, match="8 or 16 bit"):
        write(Image(np.zeros((1, 4, 4, 1), np.float32)), tmp_path / "f.png", dtype="float64")
    assert list(tmp_path.iterdir()) == []


def test_content_wins_over_suffix(tmp_path: Path) -> None:
    from PIL import Image as PILImage

    PILImage.fromarray(np.full((3, 3), 9, np.uint8)).save(tmp_path / "really_png.jpg", format="PNG")
    img = read(tmp_path / "really_png.jpg")
    assert img.meta.source_format == "png" and float(img.data.max()) == 9
