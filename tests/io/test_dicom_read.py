"""DICOM reading: series geometry, selection, X-ray photometry, colour, compression, multi-frame."""

from __future__ import annotations

import io
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from medsr.errors import GeometryError, SeriesSelectionError
from medsr.io import describe, list_series, read
from tests.io.io_fixtures import COL, ROW, make_enhanced_multiframe, make_single

MakeSeries = Callable[..., dict[str, Any]]


def _sitk_series(folder: Path) -> Any:
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


# -- the shared MR series ---------------------------------------------------------------------
# SimpleITK 2.5.7 (GDCM) reads this series with these values (see test_mr_series_matches_simpleitk)
MR_SPACING = (0.859375, 0.859375, 7.000524317522338)
MR_ORIGIN = (-110.5, -78.3063, -72.7575)
MR_DIRECTION = np.array([[1.0, 0.0, 0.0], [0.0, 0.99095996, -0.13415799], [0.0, 0.13415799, 0.99095996]])


def test_mr_series_geometry_values_and_thickness(mr_dir: Path, caplog: Any) -> None:
    import pydicom

    with caplog.at_level(logging.WARNING, logger="medsr"):
        mr = read(mr_dir)
    assert any("not quite uniform" in r.getMessage() for r in caplog.records)
    assert mr.shape == (256, 256, 20)
    np.testing.assert_allclose(mr.spacing, MR_SPACING, atol=1e-5)
    np.testing.assert_allclose(mr.origin, MR_ORIGIN, atol=1e-6)
    np.testing.assert_allclose(mr.direction, MR_DIRECTION, atol=1e-7)
    assert abs(mr.spacing[2] - 7.0) < 0.01 and mr.meta.slice_thickness == 5.0
    assert 7.5 < float(np.degrees(np.arccos(mr.direction[1, 1]))) < 7.9  # oblique ~7.7°
    assert mr.meta.modality == "MR" and mr.meta.source_format == "dicom-series"
    assert mr.meta.source_dtype == "int16" and mr.meta.spatial_dims == 3
    header = mr.meta.header
    assert header["source_folder"] == str(mr_dir.resolve()) and len(header["files"]) == 20
    assert all(Path(f).is_absolute() for f in header["files"])
    assert 0.05 < header["spacing_nonuniformity_mm"] < 0.1
    first = pydicom.dcmread(header["files"][0], stop_before_pixels=True)
    np.testing.assert_allclose(mr.origin, [float(v) for v in first.ImagePositionPatient])
    sixth = pydicom.dcmread(header["files"][5])  # (the first file has 2.5 MB of trailing padding)
    np.testing.assert_array_equal(mr.data[0, :, :, 5], sixth.pixel_array.T)


@pytest.mark.slow
def test_mr_series_matches_simpleitk(mr_dir: Path) -> None:
    import SimpleITK as sitk

    ref = _sitk_series(mr_dir)  # GDCM takes several seconds on the zero-padded first file
    mr = read(mr_dir)
    np.testing.assert_allclose(mr.spacing, ref.GetSpacing(), atol=1e-5)
    np.testing.assert_allclose(mr.origin, ref.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(mr.direction, np.reshape(ref.GetDirection(), (3, 3)), atol=1e-7)
    np.testing.assert_array_equal(mr.data[0], sitk.GetArrayFromImage(ref).transpose(2, 1, 0))


def test_mr_series_reads_fast(mr_dir: Path) -> None:
    read(mr_dir)  # imports
    t0 = time.perf_counter()
    read(mr_dir)
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.5, f"reading 20 MR files took {elapsed:.2f} s"


# -- the shared chest X-ray -------------------------------------------------------------------
def test_chest_cr_monochrome1_is_inverted_and_spacing_assumed(cr_path: Path, caplog: Any) -> None:
    import pydicom

    with caplog.at_level(logging.WARNING, logger="medsr"):
        cr = read(cr_path)
    assert any("assuming 1 mm" in r.getMessage() for r in caplog.records)
    assert cr.shape == (1841, 1955, 1) and cr.meta.spatial_dims == 2 and cr.meta.modality == "CR"
    assert cr.meta.header["spacing_assumed"] is True and cr.meta.header["inverted"] is True
    np.testing.assert_allclose(cr.spacing, 1.0)
    stored = pydicom.dcmread(cr_path).pixel_array  # (rows, columns), MONOCHROME1
    np.testing.assert_array_equal(cr.data[0, :, :, 0], (2**15 - 1 - stored.astype(np.float32)).T)
    a = cr.data[0, :, :, 0]
    nx, ny = a.shape

    def mean(x0: float, x1: float, y0: float, y1: float) -> float:
        return float(a[int(x0 * nx) : int(x1 * nx), int(y0 * ny) : int(y1 * ny)].mean())

    lungs = (mean(0.25, 0.4, 0.3, 0.55) + mean(0.6, 0.75, 0.3, 0.55)) / 2
    assert lungs < 0.8 * mean(0.46, 0.54, 0.3, 0.55)  # lungs dark, mediastinum bright


# -- synthetic series -------------------------------------------------------------------------
def test_oblique_series_exact_geometry_hu_and_sorting(ct_series: MakeSeries) -> None:
    info = ct_series(names="IM{:d}")  # no suffix, files shuffled on disk
    (info["folder"] / "README.txt").write_text("not an image")
    (info["folder"] / ".DS_Store").write_bytes(b"\0" * 300)
    img = read(info["folder"])
    np.testing.assert_array_equal(img.data[0], info["hu"])
    assert img.meta.units == "HU" and img.meta.source_dtype == "int16"
    assert img.meta.header["stored_dtype"] == "uint16"
    np.testing.assert_allclose(img.spacing, info["spacing"], atol=1e-6)
    np.testing.assert_allclose(img.origin, info["origin"], atol=1e-6)
    np.testing.assert_allclose(img.direction, info["direction"], atol=1e-6)
    assert img.meta.slice_thickness == 2.0
    zs = [int(Path(f).name[2:]) for f in img.meta.header["files"]]
    assert zs == sorted(zs)


def test_preamble_less_files_are_read(ct_series: MakeSeries) -> None:
    info = ct_series(preamble=False)
    assert info["files"][0].read_bytes()[128:132] != b"DICM"
    np.testing.assert_array_equal(read(info["folder"]).data[0], info["hu"])


def test_raw_implicit_dataset_without_meta_is_read(tmp_path: Path) -> None:
    import pydicom

    src = make_single(tmp_path / "a.dcm", np.arange(12, dtype=np.uint16).reshape(3, 4))
    ds = pydicom.dcmread(src)
    del ds.file_meta
    ds.preamble = None
    raw = tmp_path / "raw"
    ds.save_as(raw, implicit_vr=True, little_endian=True)
    assert raw.read_bytes()[:2] == b"\x08\x00"
    np.testing.assert_array_equal(read(raw).data[0, :, :, 0], np.arange(12).reshape(3, 4).T)


def test_single_file_of_series_is_a_2d_slice(ct_series: MakeSeries) -> None:
    info = ct_series()
    img = read(info["files"][0])
    assert img.shape[2] == 1 and img.meta.spatial_dims == 2 and img.meta.source_format == "dicom"


def test_slightly_uneven_positions_warn_and_use_mean(ct_series: MakeSeries, caplog: Any) -> None:
    normal = np.cross(ROW, COL)
    steps = np.array([0, 2.5, 5.03, 7.48, 10.0, 12.5])
    positions = [np.array([1.0, 2.0, 3.0]) + s * normal for s in steps]
    with caplog.at_level(logging.WARNING, logger="medsr"):
        img = read(ct_series(positions=positions)["folder"])
    assert any("not quite uniform" in r.getMessage() for r in caplog.records)
    assert img.spacing[2] == pytest.approx(2.5, abs=1e-6)


@pytest.mark.parametrize(
    "steps,match", [([0, 2.5, 2.5, 5, 7.5, 10], "share a position"), ([0, 2.5, 5, 10, 12.5, 15], "irregular")]
)
def test_duplicated_or_missing_slices_are_refused(ct_series: MakeSeries, steps: list[float], match: str) -> None:
    normal = np.cross(ROW, COL)
    info = ct_series(positions=[s * normal for s in steps])
    with pytest.raises(GeometryError, match=match) as err:
        read(info["folder"])
    assert "Remedy" in str(err.value) and str(info["folder"]) in str(err.value)


# -- several series ---------------------------------------------------------------------------
@pytest.fixture
def two_series(ct_series: MakeSeries, tmp_path: Path) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    a = ct_series("mixed", description="first", names="a{:03d}.dcm")
    b = ct_series("mixed", hu=np.zeros((4, 3, 2), np.float32), description="second", names="b{:03d}.dcm")
    return tmp_path / "mixed", a, b


def test_list_series_describes_each_series(two_series: Any) -> None:
    folder, a, b = two_series
    infos = list_series(folder)
    assert [(s.n_files, s.rows, s.columns) for s in infos] in ([(6, 8, 10), (2, 3, 4)], [(2, 3, 4), (6, 8, 10)])
    by_uid = {s.uid: s for s in infos}
    assert by_uid[a["series_uid"]].description == "first" and by_uid[b["series_uid"]].modality == "CT"
    assert sorted(by_uid[b["series_uid"]].files) == sorted(str(f.resolve()) for f in b["files"])


def test_folder_with_two_series_needs_a_choice(two_series: Any) -> None:
    folder, a, b = two_series
    with pytest.raises(SeriesSelectionError) as err:
        read(folder)
    msg = str(err.value)
    assert "\n" not in msg and "--series" in msg and "Remedy" in msg
    assert a["series_uid"] in msg and b["series_uid"] in msg and "[1]" in msg and "6 files" in msg


def test_series_chosen_by_uid_or_index(two_series: Any) -> None:
    folder, a, b = two_series
    np.testing.assert_array_equal(read(folder, series=a["series_uid"]).data[0], a["hu"])
    index = [s.uid for s in list_series(folder)].index(b["series_uid"])
    assert read(folder, series=index).shape == (4, 3, 2)
    assert read(folder, series=str(index)).shape == (4, 3, 2)
    with pytest.raises(SeriesSelectionError, match="out of range"):
        read(folder, series=5)
    with pytest.raises(SeriesSelectionError, match="no series with UID"):
        read(folder, series="1.2.3.4")


def test_shared_series_copied_with_new_uid_makes_two_series(mr_dir: Path, tmp_path: Path) -> None:
    import pydicom

    folder = tmp_path / "two"
    shutil.copytree(mr_dir, folder)
    for f in sorted(folder.iterdir())[10:]:
        f.chmod(0o644)
        ds = pydicom.dcmread(f)
        ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.99"
        ds.save_as(f)
    assert [s.n_files for s in list_series(folder)] == [10, 10]
    with pytest.raises(SeriesSelectionError):
        read(folder)
    assert read(folder, series="1.2.826.0.1.3680043.8.498.99").shape == (256, 256, 10)


def test_describe_folder_lists_series(two_series: Any, mr_dir: Path) -> None:
    folder, a, _ = two_series
    info = describe(folder)
    assert info["selected_series"] is None and len(info["series"]) == 2 and "--series" in info["note"]
    chosen = describe(folder, series=a["series_uid"])
    assert chosen["shape"] == [10, 8, 6] and chosen["units"] == "HU" and chosen["selected_series"] == a["series_uid"]
    mr = describe(mr_dir)
    assert mr["slice_thickness_mm"] == 5.0 and mr["orientation"] == "LPS" and 7 < mr["obliquity_deg"] < 8
    assert mr["min"] == 0.0 and mr["max"] == 1059.0 and mr["p1"] <= mr["p99"]


# -- single files: photometry, colour, compression, frames ----------------------------------
def test_monochrome1_and_imager_pixel_spacing(tmp_path: Path) -> None:
    px = np.array([[0, 100], [4095, 7]], np.uint16)
    path = make_single(
        tmp_path / "x.dcm",
        px,
        photometric="MONOCHROME1",
        bits=12,
        modality="DX",
        extra={"ImagerPixelSpacing": ["0.2", "0.15"]},
    )
    img = read(path)
    np.testing.assert_array_equal(img.data[0, :, :, 0], (4095 - px.astype(np.float32)).T)
    np.testing.assert_allclose(img.spacing[:2], [0.15, 0.2])  # [row, column] = [Y, X]
    assert img.meta.header["pixel_spacing_from"] == "ImagerPixelSpacing" and not img.meta.header["spacing_assumed"]


def test_rgb_and_ybr_full_become_rgb(tmp_path: Path) -> None:
    from pydicom.pixels import convert_color_space

    rgb = np.zeros((6, 8, 3), np.uint8)
    rgb[..., 0], rgb[2:4, :, 1], rgb[..., 2] = 200, 150, np.arange(8)[None] * 30
    img = read(make_single(tmp_path / "rgb.dcm", rgb, photometric="RGB", modality="XC"))
    assert img.channels == 3 and img.meta.rgb and img.shape == (8, 6, 1)
    np.testing.assert_array_equal(img.data.transpose(3, 2, 1, 0)[0], rgb)
    ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
    back = read(make_single(tmp_path / "ybr.dcm", ybr, photometric="YBR_FULL", modality="XC"))
    assert np.abs(back.data.transpose(3, 2, 1, 0)[0] - rgb).max() <= 2


def _compressed(tmp_path: Path, syntax: Any) -> tuple[Path, np.ndarray]:
    import pydicom
    from pydicom.pixels import get_encoder

    if not get_encoder(syntax).is_available:
        pytest.skip(f"no encoder for {syntax.name}")
    px = np.random.default_rng(2).integers(0, 4000, (40, 48)).astype(np.uint16)
    ds = pydicom.dcmread(make_single(tmp_path / "plain.dcm", px, bits=12))
    ds.compress(syntax)
    out = tmp_path / "compressed.dcm"
    ds.save_as(out, enforce_file_format=True)
    return out, px


@pytest.mark.parametrize("name", ["RLELossless", "JPEG2000Lossless"])
def test_lossless_compressed_files_decode_exactly(tmp_path: Path, name: str) -> None:
    import pydicom.uid

    path, px = _compressed(tmp_path, getattr(pydicom.uid, name))
    img = read(path)
    assert img.meta.header["transfer_syntax"] == str(getattr(pydicom.uid, name))
    np.testing.assert_array_equal(img.data[0, :, :, 0], px.T)


def test_jpeg_baseline_ybr_is_decoded_to_rgb(tmp_path: Path) -> None:
    import pydicom
    from PIL import Image as PILImage
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit

    y, x = np.mgrid[0:16, 0:24]
    rgb = np.stack([200 + 0 * x, 8 * x, 10 * y], axis=-1).astype(np.uint8)
    buf = io.BytesIO()
    PILImage.fromarray(rgb).save(buf, "JPEG", quality=95)
    ds = pydicom.dcmread(make_single(tmp_path / "plain.dcm", rgb, photometric="RGB", modality="XC"))
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.save_as(tmp_path / "jpeg.dcm", enforce_file_format=True)
    img = read(tmp_path / "jpeg.dcm")
    expected = np.asarray(PILImage.open(io.BytesIO(buf.getvalue())).convert("RGB"), np.float32)
    assert img.meta.rgb and np.abs(img.data.transpose(3, 2, 1, 0)[0] - expected).max() <= 3


def test_enhanced_multiframe_sorts_frames_and_applies_shared_rescale(tmp_path: Path) -> None:
    frames = np.random.default_rng(0).integers(0, 1000, (4, 6, 5)).astype(np.uint16)
    normal = np.cross(ROW, COL)
    positions = [np.array([1.0, 2.0, 3.0]) + k * 3.0 * normal for k in range(4)][::-1]  # stored top-down
    img = read(make_enhanced_multiframe(tmp_path / "mf.dcm", frames, positions))
    assert img.shape == (5, 6, 4) and img.meta.spatial_dims == 3 and img.meta.slice_thickness == 1.5
    np.testing.assert_array_equal(img.data[0], frames[::-1].transpose(2, 1, 0) * 2.0 - 100)
    np.testing.assert_allclose(img.spacing, [0.6, 0.5, 3.0], atol=1e-6)
    np.testing.assert_allclose(img.origin, positions[-1], atol=1e-6)


def test_multiframe_without_positions_uses_spacing_between_slices(tmp_path: Path) -> None:
    frames = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5)
    path = make_single(
        tmp_path / "cine.dcm", frames, extra={"SpacingBetweenSlices": "4.0", "PixelSpacing": ["0.5", "0.5"]}
    )
    img = read(path)
    assert img.shape == (5, 4, 3) and img.spacing[2] == 4.0
    np.testing.assert_array_equal(img.data[0], frames.transpose(2, 1, 0))


def test_palette_colour_is_expanded_to_rgb(tmp_path: Path) -> None:
    index = np.array([[0, 1, 2], [3, 2, 1]], np.uint8)
    luts = {"Red": [0, 65535, 0, 30000], "Green": [0, 0, 65535, 30000], "Blue": [0, 0, 0, 0]}
    extra: dict[str, Any] = {}
    for colour, head in luts.items():
        extra[f"{colour}PaletteColorLookupTableDescriptor"] = [256, 0, 16]
        extra[f"{colour}PaletteColorLookupTableData"] = np.array(head + [0] * 252, np.uint16).tobytes()
    img = read(make_single(tmp_path / "pal.dcm", index, photometric="PALETTE COLOR", extra=extra))
    assert img.channels == 3 and img.meta.rgb
    rgb = img.data[:, :, :, 0].transpose(2, 1, 0)
    np.testing.assert_array_equal(rgb[1, 0], [30000, 30000, 0])
    np.testing.assert_array_equal(rgb[0, 2], [0, 65535, 0])
