"""Derived DICOM series: valid (dciodvfy), exact geometry and HU when read back by SimpleITK."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from medsr.baselines import upsample
from medsr.errors import OutputError
from medsr.geometry import upsample_grid
from medsr.image import Image, ImageMeta
from medsr.io import read, write
from medsr.io.dicom_write import fit_rescale
from tests.io.io_fixtures import dciodvfy_errors, dciodvfy_messages, sha256_tree

MakeSeries = Callable[..., dict[str, Any]]


def _sitk_read(folder: Path) -> Any:
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def _as_xyz(sitk_image: Any) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(sitk_image).transpose(2, 1, 0)


def _datasets(folder: Path) -> list[Any]:
    import pydicom

    return [pydicom.dcmread(f) for f in sorted(folder.iterdir())]


def test_derived_series_is_valid_and_reads_back_exactly(ct_series: MakeSeries, tmp_path: Path) -> None:
    src = read(ct_series()["folder"])
    values = src.data + np.float32(0.37)  # not integers: fitted rescale
    out = write(
        src.with_data(values), tmp_path / "sr", sidecar={"derivation_description": "test derivation", "method": "unit"}
    )
    files = sorted(out.iterdir())
    assert len(files) == 6
    assert dciodvfy_errors(files[0]) == [] and dciodvfy_errors(files[-1]) == []
    ref = _sitk_read(out)
    assert ref.GetSize() == src.shape
    np.testing.assert_allclose(ref.GetSpacing(), src.spacing, atol=1e-5)
    np.testing.assert_allclose(ref.GetOrigin(), src.origin, atol=1e-4)
    np.testing.assert_allclose(np.reshape(ref.GetDirection(), (3, 3)), src.direction, atol=1e-6)
    dss = _datasets(out)
    slope = float(dss[0].RescaleSlope)
    assert np.abs(_as_xyz(ref) - values[0]).max() <= slope / 2 + 1e-3


def test_integer_hu_are_stored_exactly_with_slope_one(ct_series: MakeSeries, tmp_path: Path) -> None:
    src = read(ct_series()["folder"])
    out = write(src, tmp_path / "same")
    ds = _datasets(out)[0]
    assert float(ds.RescaleSlope) == 1.0 and float(ds.RescaleIntercept) == 0.0
    np.testing.assert_array_equal(read(out).data, src.data)


def test_attributes_of_the_new_series(ct_series: MakeSeries, tmp_path: Path) -> None:
    info = ct_series()
    src = read(info["folder"])
    out = write(src, tmp_path / "sr", sidecar={"derivation_description": "my method"})
    dss = _datasets(out)
    first = dss[0]
    assert first.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert list(first.ImageType) == ["DERIVED", "SECONDARY", "AXIAL"]
    assert first.StudyInstanceUID == src.meta.header["study_instance_uid"]
    assert first.FrameOfReferenceUID == src.meta.header["frame_of_reference_uid"]
    assert first.SeriesInstanceUID != info["series_uid"]
    assert len({d.SeriesInstanceUID for d in dss}) == 1 and len({d.SOPInstanceUID for d in dss}) == 6
    assert first.DerivationDescription == "my method"
    assert first.SeriesDescription.endswith("medsr SR")
    assert (first.Rows, first.Columns) == (8, 10) and [float(v) for v in first.PixelSpacing] == [0.8, 0.7]
    assert float(first.SliceThickness) == 2.0  # the source thickness: Z spacing unchanged
    assert float(first.SpacingBetweenSlices) == pytest.approx(2.5, abs=1e-5)
    assert first.BitsAllocated == 16 and first.PixelRepresentation == 1
    assert first.PhotometricInterpretation == "MONOCHROME2"
    by_instance = sorted(dss, key=lambda d: int(d.InstanceNumber))
    along = [float(np.dot([float(v) for v in d.ImagePositionPatient], src.direction[:, 2])) for d in by_instance]
    assert [int(d.InstanceNumber) for d in by_instance] == list(range(1, 7)) and along == sorted(along)
    np.testing.assert_allclose([float(v) for v in by_instance[0].ImagePositionPatient], src.origin, atol=1e-4)
    assert not any(elem.tag.is_private for elem in first)


def test_upsampled_grid_gets_new_positions_and_thickness(ct_series: MakeSeries, tmp_path: Path) -> None:
    src = read(ct_series()["folder"])
    grid = upsample_grid(src.grid, factors=(1, 1, 2))
    up = Image.from_grid(np.repeat(src.data, 2, axis=3), grid, src.meta)
    out = write(up, tmp_path / "up")
    ref = _sitk_read(out)
    assert ref.GetSize() == (10, 8, 12)
    np.testing.assert_allclose(ref.GetSpacing(), grid.spacing, atol=1e-5)
    np.testing.assert_allclose(ref.GetOrigin(), grid.origin, atol=1e-4)
    np.testing.assert_allclose(np.reshape(ref.GetDirection(), (3, 3)), grid.direction, atol=1e-6)
    np.testing.assert_array_equal(_as_xyz(ref), up.data[0])
    assert float(_datasets(out)[0].SliceThickness) == pytest.approx(1.25)


def test_shared_mr_series_round_trip(mr_dir: Path, tmp_path: Path) -> None:
    src = read(mr_dir)
    values = src.data * np.float32(0.37) + np.float32(0.1)
    out = write(src.with_data(values), tmp_path / "mr_sr")
    back = read(out)
    np.testing.assert_allclose(back.spacing, src.spacing, atol=1e-5)
    np.testing.assert_allclose(back.origin, src.origin, atol=1e-4)
    np.testing.assert_allclose(back.direction, src.direction, atol=1e-6)
    assert "RescaleSlope" not in _datasets(out)[0]  # the MR IOD has no Modality LUT
    assert np.abs(back.data - values).max() <= 0.5 + 1e-4
    assert back.meta.slice_thickness == 5.0
    # the source carries invalid "0.0.0.0…" UIDs that the derived series must keep (same study,
    # same frame of reference) and reference; every other message is the source's own
    source = Path(src.meta.header["files"][1])
    source_messages = set(dciodvfy_messages(source))
    source_uids = {str(v) for f in src.meta.header["files"] for v in _uids(Path(f))}
    for message in dciodvfy_messages(sorted(out.iterdir())[0]):
        quoted = message.split('"')[1] if message.count('"') >= 2 else ""
        assert message in source_messages or quoted in source_uids, message


def _uids(path: Path) -> list[Any]:
    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return [e.value for e in ds.iterall() if e.VR == "UI"] + [e.value for e in ds.file_meta if e.VR == "UI"]


@pytest.mark.parametrize("modality", ["CT", "MR"])
def test_derived_series_references_its_sources_and_validates_cleanly(
    ct_series: MakeSeries, tmp_path: Path, modality: str
) -> None:
    import pydicom

    from medsr import __version__

    info = ct_series(modality=modality)
    src = read(info["folder"])
    source_uids = {str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in info["files"]}
    up = upsample(src, factors=(1, 1, 2))
    out = write(up, tmp_path / f"{modality}_sr", sidecar={"command": "upsample", "method": "bspline"})
    files = sorted(out.iterdir())
    for f in (files[0], files[len(files) // 2], files[-1]):
        assert dciodvfy_messages(f) == [], f  # oblique, no error and no warning
    dss = _datasets(out)
    for ds in dss:
        items = ds.SourceImageSequence
        assert 1 <= len(items) <= 3
        for item in items:
            assert str(item.ReferencedSOPInstanceUID) in source_uids
            assert item.ReferencedSOPClassUID == src.meta.header["sop_class_uid"]
            assert item.PurposeOfReferenceCodeSequence[0].CodeValue == "121322"
    ds = dss[0]
    assert [(c.CodeValue, c.CodingSchemeDesignator) for c in ds.DerivationCodeSequence] == [("113085", "DCM")]
    (series,) = ds.ReferencedSeriesSequence
    assert series.SeriesInstanceUID == info["series_uid"]
    assert {str(i.ReferencedSOPInstanceUID) for i in series.ReferencedInstanceSequence} == source_uids
    (equipment,) = ds.ContributingEquipmentSequence
    assert equipment.ManufacturerModelName == "medsr" and equipment.SoftwareVersions == __version__
    assert equipment.PurposeOfReferenceCodeSequence[0].CodeValue == "109103"
    assert "upsample bspline" in ds.SeriesDescription and "upsample bspline" in ds.DerivationDescription
    assert ("RescaleSlope" in ds) == (modality == "CT")
    # output slice k lies between the source slices it names
    z = [float(np.asarray(d.ImagePositionPatient, float) @ src.direction[:, 2]) for d in dss]
    by_uid = {str(pydicom.dcmread(f).SOPInstanceUID): pydicom.dcmread(f) for f in info["files"]}
    for d, zk in zip(dss, z, strict=True):
        near = [
            float(np.asarray(by_uid[str(i.ReferencedSOPInstanceUID)].ImagePositionPatient, float) @ src.direction[:, 2])
            for i in d.SourceImageSequence
        ]
        assert min(abs(n - zk) for n in near) <= src.spacing[2] / 2 + 1e-4


def test_mr_values_of_a_narrow_range_keep_a_real_world_mapping(ct_series: MakeSeries, tmp_path: Path) -> None:
    src = read(ct_series(modality="MR")["folder"])
    values = src.data / np.float32(5000)  # 0…0.5: rounding would destroy it
    out = write(src.with_data(values), tmp_path / "mr_small")
    ds = _datasets(out)[0]
    assert "RescaleSlope" not in ds and ds.RealWorldValueMappingSequence[0].LUTLabel == "MEDSR"
    assert dciodvfy_messages(sorted(out.iterdir())[0]) == []
    slope = float(ds.RealWorldValueMappingSequence[0].RealWorldValueSlope)
    assert np.abs(read(out).data - values).max() <= slope / 2 + 1e-6


def test_chest_cr_written_as_derived_monochrome2(cr_path: Path, tmp_path: Path) -> None:
    src = read(cr_path)
    out = write(src, tmp_path / "cr_sr")
    (file,) = sorted(out.iterdir())
    errors = dciodvfy_errors(file)
    assert not [e for e in errors if "Pixel Spacing" not in e]  # the source's zero spacing is dropped
    ds = _datasets(out)[0]
    assert ds.PhotometricInterpretation == "MONOCHROME2" and "PixelSpacing" not in ds
    np.testing.assert_array_equal(read(out).data, src.data)


def test_fit_rescale_bounds_error() -> None:
    values = np.linspace(-1000.3, 2999.9, 1000, dtype=np.float32)
    slope, intercept, stored = fit_rescale(values)
    assert stored.dtype == np.int16 and slope < 0.07
    assert np.abs(stored * slope + intercept - values).max() <= slope / 2 + 1e-3
    assert fit_rescale(np.full(4, 7.5, np.float32))[:2] == (1.0, 7.5)
    assert fit_rescale(np.array([1.4, 2.6], np.float32), "input")[2].tolist() == [1, 3]


def test_dicom_output_refused_for_non_dicom_or_colour_images(tmp_path: Path, small_volume: Image) -> None:
    with pytest.raises(OutputError, match="NIfTI") as err:
        write(small_volume, tmp_path / "series")
    assert "Remedy" in str(err.value)
    with pytest.raises(OutputError, match="NIfTI"):
        write(small_volume, tmp_path / "x.nii.gz", format="dicom")
    rgb = Image(np.zeros((3, 4, 4, 1), np.float32), meta=ImageMeta(header={"format": "dicom", "files": ["/x"]}))
    with pytest.raises(OutputError):
        write(rgb, tmp_path / "rgb_series")
    assert list(tmp_path.iterdir()) == []


def test_output_inside_the_source_folder_is_refused(ct_series: MakeSeries) -> None:
    info = ct_series()
    before = sha256_tree(info["folder"])
    src = read(info["folder"])
    for target in (info["folder"] / "sr", info["folder"], info["folder"] / "x.nii.gz", info["folder"].parent):
        with pytest.raises(OutputError):
            write(src, target, overwrite=True, format="dicom" if not target.suffix else None)
    assert sha256_tree(info["folder"]) == before


def test_failure_midway_leaves_nothing(ct_series: MakeSeries, tmp_path: Path, monkeypatch: Any) -> None:
    import pydicom

    src = read(ct_series()["folder"])
    real = pydicom.dcmwrite
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(pydicom, "dcmwrite", flaky)
    out_dir = tmp_path / "outputs"
    out_dir.mkdir()
    with pytest.raises(OutputError, match="disk full"):
        write(src, out_dir / "sr", sidecar={})
    assert list(out_dir.iterdir()) == []
