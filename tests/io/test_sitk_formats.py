"""NIfTI / NRRD / MetaImage through medsr.io: exact geometry, dtypes, real scans."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from medsr.errors import OutputError
from medsr.image import Image, ImageMeta
from medsr.io import describe, read, write
from medsr.io.header_checks import parse_nifti_header


def _rotation(ax: float, ay: float, az: float) -> np.ndarray:
    cx, cy, cz = np.cos(np.radians([ax, ay, az]))
    sx, sy, sz = np.sin(np.radians([ax, ay, az]))
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


@pytest.fixture
def oblique() -> Image:
    rng = np.random.default_rng(3)
    data = rng.normal(100, 40, (1, 7, 6, 5)).astype(np.float32)
    return Image(
        data,
        spacing=(0.8, 0.9, 3.3),
        origin=(-10.5, 20.25, 33.125),
        direction=_rotation(7.7, -3.0, 12.0),
        meta=ImageMeta(source_dtype="int16"),
    )


@pytest.mark.parametrize(
    "suffix,fmt,tol",
    [
        (".nii.gz", "nifti", 1e-6),
        (".nii", "nifti", 1e-6),
        (".nrrd", "nrrd", 1e-12),
        (".mha", "mha", 1e-12),
        (".mhd", "mha", 1e-12),
    ],
)
def test_round_trip_keeps_oblique_geometry_and_float_values(
    tmp_path: Path, oblique: Image, suffix: str, fmt: str, tol: float
) -> None:
    out = write(oblique, tmp_path / f"img{suffix}")
    back = read(out)
    assert back.meta.source_format == fmt
    assert back.meta.source_dtype == "float32"
    assert back.shape == oblique.shape
    assert np.array_equal(back.data, oblique.data)
    np.testing.assert_allclose(back.spacing, oblique.spacing, rtol=tol, atol=tol)
    np.testing.assert_allclose(back.origin, oblique.origin, atol=tol * 100)
    np.testing.assert_allclose(back.direction, oblique.direction, atol=tol * 10)
    assert back.meta.spatial_dims == 3


@pytest.mark.parametrize("suffix", [".mhd", ".nhdr"])
def test_detached_headers_write_their_raw_companion(tmp_path: Path, oblique: Image, suffix: str) -> None:
    out = write(oblique, tmp_path / f"img{suffix}")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"img{suffix}", "img.raw"])
    np.testing.assert_array_equal(read(out).data, oblique.data)
    (tmp_path / "other.raw").write_bytes(b"x")
    with pytest.raises(OutputError, match="--overwrite"):  # the companion would be replaced
        write(oblique, tmp_path / f"other{suffix}")
    src = read(out)
    with pytest.raises(OutputError, match="input"):  # an input's data file is never replaced
        write(src, tmp_path / "img.nhdr" if suffix == ".mhd" else tmp_path / "img.mhd", overwrite=True)
    assert (tmp_path / "other.raw").read_bytes() == b"x"


def test_dtype_input_rounds_and_clips_to_source_type(tmp_path: Path, small_volume: Image) -> None:
    vol = small_volume.with_data(small_volume.data.copy())
    vol.data[0, 0, 0, 0] = 40000.0  # beyond int16: clipped
    vol.data[0, 1, 0, 0] = 12.6
    back = read(write(vol, tmp_path / "ct.nrrd", dtype="input"))
    assert back.meta.source_dtype == "int16"
    assert back.data[0, 0, 0, 0] == 32767 and back.data[0, 1, 0, 0] == 13
    np.testing.assert_array_equal(back.data, np.clip(np.rint(vol.data), -32768, 32767))
    assert back.meta.modality == "CT" and back.meta.units == "HU"  # HU-looking int16 volume


def test_named_dtype_and_default_float(tmp_path: Path, small_volume: Image) -> None:
    assert read(write(small_volume, tmp_path / "a.nii.gz")).meta.source_dtype == "float32"
    assert read(write(small_volume, tmp_path / "b.nii.gz", dtype="int32")).meta.source_dtype == "int32"


def test_rgb_vector_image_keeps_channels(tmp_path: Path) -> None:
    data = np.arange(3 * 4 * 5 * 2, dtype=np.float32).reshape(3, 4, 5, 2)
    img = Image(data, spacing=(1, 2, 3), meta=ImageMeta(rgb=True))
    back = read(write(img, tmp_path / "rgb.nrrd"))
    assert back.channels == 3 and np.array_equal(back.data, data)


def test_planar_image_is_written_and_read_as_2d(tmp_path: Path) -> None:
    import SimpleITK as sitk

    img = Image(np.ones((1, 6, 4, 1), np.float32), spacing=(0.5, 0.25, 1.0), meta=ImageMeta(spatial_dims=2))
    out = write(img, tmp_path / "plane.nii.gz")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(out))
    reader.ReadImageInformation()
    assert reader.GetDimension() == 2
    back = read(out)
    assert back.meta.spatial_dims == 2 and back.shape == (6, 4, 1)
    np.testing.assert_allclose(back.spacing[:2], [0.5, 0.25])


def test_singleton_fourth_axis_is_dropped(tmp_path: Path) -> None:
    import SimpleITK as sitk

    arr = np.arange(2 * 3 * 4, dtype=np.int16).reshape(1, 2, 3, 4)  # (T, Z, Y, X)
    path = tmp_path / "t1.nii.gz"
    four = sitk.JoinSeries([sitk.GetImageFromArray(arr[0])])
    assert four.GetDimension() == 4 and four.GetSize() == (4, 3, 2, 1)
    sitk.WriteImage(four, str(path))
    img = read(path)
    assert img.shape == (4, 3, 2) and img.meta.source_dtype == "int16"
    np.testing.assert_array_equal(img.data[0], arr[0].transpose(2, 1, 0))


def test_nifti_header_parser_reads_dims_and_pixdim(tmp_path: Path, oblique: Image) -> None:
    header = parse_nifti_header(write(oblique, tmp_path / "a.nii"))
    assert header.dims == [7, 6, 5] and header.dtype.name == "float32"
    np.testing.assert_allclose(header.pixdim, [0.8, 0.9, 3.3], rtol=1e-6)


def test_real_ct_nrrd_in_hounsfield_units_fast(ct_path: Path) -> None:
    read(ct_path)  # warm the imports
    t0 = time.perf_counter()
    ct = read(ct_path)
    elapsed = time.perf_counter() - t0
    assert ct.shape == (512, 512, 48)
    np.testing.assert_allclose(ct.spacing, [0.5703125, 0.5703125, 5.0])
    assert ct.meta.source_dtype == "int16" and ct.meta.modality == "CT" and ct.meta.units == "HU"
    assert float(ct.data.min()) == -1024.0 and float(ct.data.max()) == 3071.0
    assert ct.meta.source_path == str(ct_path.resolve())
    assert elapsed < 3.0, f"reading the 12 MB CT took {elapsed:.2f} s"


def test_real_mni_nifti(mni_path: Path) -> None:
    mni = read(mni_path)
    assert mni.shape == (197, 233, 189) and mni.meta.source_dtype == "uint8"
    np.testing.assert_allclose(mni.spacing, 1.0)
    assert mni.meta.modality == "OT" and 0 <= mni.data.min() and mni.data.max() <= 255


def test_describe_ct_gives_geometry_and_value_range(ct_path: Path) -> None:
    import json

    info = describe(ct_path)
    assert info["shape"] == [512, 512, 48] and info["channels"] == 1 and info["format"] == "nrrd"
    assert info["spacing_mm"] == [0.5703125, 0.5703125, 5.0] and info["orientation"] == "LPS"
    assert info["modality"] == "CT" and info["units"] == "HU" and info["source_dtype"] == "int16"
    assert info["min"] == -1024.0 and info["max"] == 3071.0 and info["min"] <= info["p1"] < info["p99"]
    assert info["obliquity_deg"] == 0.0 and info["nonfinite"] == 0 and "series" not in info
    json.dumps(info)  # JSON-able for `medsr info --json`
    import medsr.io

    assert callable(medsr.io.describe)  # no submodule of the same name shadows the function
