"""Writing a derived DICOM series (one file per slice) from an image that was read from DICOM.

The first source file gives the patient, study, equipment and frame-of-reference modules;
the output is a new series of the same study (same StudyInstanceUID and
FrameOfReferenceUID, new SeriesInstanceUID and SOPInstanceUIDs) with:

* ImageType ``DERIVED\\SECONDARY`` (+ the source's third value, e.g. ``AXIAL``),
  DerivationDescription, SeriesDescription suffixed with ``medsr SR``, SeriesNumber + 1000;
* Rows/Columns, PixelSpacing ``[Y, X]``, ImageOrientationPatient (kept oblique), per-slice
  ImagePositionPatient ``origin + k * spacing_z * direction[:, 2]`` and SliceLocation,
  SpacingBetweenSlices, SliceThickness (the source thickness while the Z spacing is
  unchanged, else the output Z spacing);
* signed 16-bit MONOCHROME2 pixels with RescaleSlope/Intercept fitted so the values (HU
  for CT) survive: integer values that fit int16 are stored as they are (slope 1); other
  values use the whole int16 range (error at most slope / 2). ``dtype="input"`` rounds to
  integers (slope 1) when they fit;
* InstanceNumber 1…N in slice order, explicit VR little endian, uncompressed, a valid
  file meta header. Private, retired, overlay, per-frame and pixel-description attributes
  of the source that would now be wrong are removed.

Only pydicom is used (no torch, no SimpleITK). The output passes ``dciodvfy`` without errors.
"""

from __future__ import annotations

import copy
import datetime as _dt
import logging
from pathlib import Path
from typing import Any

import numpy as np

from medsr.errors import OutputError
from medsr.image import Image
from medsr.io.dicom_refs import add_series_references, method_label, source_items

logger = logging.getLogger(__name__)

#: attributes of the source that describe its pixels, frames or acquisition grid
_DROP = (
    "PixelData",
    "FloatPixelData",
    "DoubleFloatPixelData",
    "NumberOfFrames",
    "FrameIncrementPointer",
    "PerFrameFunctionalGroupsSequence",
    "SharedFunctionalGroupsSequence",
    "IconImageSequence",
    "SmallestImagePixelValue",
    "LargestImagePixelValue",
    "SmallestPixelValueInSeries",
    "LargestPixelValueInSeries",
    "PixelPaddingValue",
    "PixelPaddingRangeLimit",
    "VOILUTSequence",
    "ModalityLUTSequence",
    "WindowCenterWidthExplanation",
    "PlanarConfiguration",
    "PixelAspectRatio",
    "NominalScannedPixelSpacing",
    "PixelSpacingCalibrationType",
    "PixelSpacingCalibrationDescription",
    "ImagesInAcquisition",
    "InStackPositionNumber",
    "InstanceCreatorUID",
    "DataSetTrailingPadding",
    "LossyImageCompressionMethod",
    "RedPaletteColorLookupTableDescriptor",
    "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor",
    "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData",
    "SegmentedRedPaletteColorLookupTableData",
    "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData",
    "PaletteColorLookupTableUID",
    "ICCProfile",
    "ColorSpace",
    "BitsStored",
    "HighBit",
    "ReferencedImageSequence",
    "SourceImageSequence",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "RealWorldValueMappingSequence",
    "ReferencedSeriesSequence",
    "DerivationCodeSequence",
    "ContributingEquipmentSequence",
    "SliceLocation",
    "ImagePositionPatient",
)
DEFAULT_DERIVATION = "medsr super-resolution"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


def check_dicom_source(image: Image, path: Path) -> list[str]:
    """The source files, after checking that ``image`` can be written as a derived series.

    Raises:
        OutputError: the image did not come from DICOM, its files are gone, it has several
            channels, or the source is a multi-frame (enhanced) object.
    """
    files = image.meta.header.get("files") if image.meta.header.get("format") == "dicom" else None
    if not files:
        raise OutputError(
            path,
            "a DICOM output needs an image read from DICOM (its header is the template)",
            "write NIfTI (.nii.gz) or NRRD (.nrrd) instead",
        )
    if not Path(files[0]).is_file():
        raise OutputError(
            path,
            f"the source DICOM file {files[0]} no longer exists",
            "keep the input folder in place or write NIfTI/NRRD instead",
        )
    if image.channels != 1:
        raise OutputError(
            path,
            f"DICOM output holds grey images; this one has {image.channels} channels",
            "write NIfTI/NRRD, PNG or TIFF instead",
        )
    if int(image.meta.header.get("number_of_frames", 1) or 1) > 1:
        raise OutputError(
            path,
            "the source is a multi-frame DICOM object; medsr writes single-frame series",
            "write NIfTI/NRRD instead",
        )
    return list(files)


def _ds(value: float) -> str:
    """A decimal string (VR DS, at most 16 characters) for ``value``."""
    from pydicom.valuerep import format_number_as_ds

    text = f"{float(value):.12g}"
    return text if len(text) <= 16 else format_number_as_ds(float(value))


def fit_rescale(values: np.ndarray, dtype: str = "float32") -> tuple[float, float, np.ndarray]:
    """``(slope, intercept, int16 values)`` with ``values ≈ slope * stored + intercept``.

    Slope and intercept are the values as written in the DS strings, so reading back is exact
    up to the quantisation (0 for fitting integers, else at most ``slope / 2``).
    """
    finite = np.isfinite(values)
    lo = float(values[finite].min()) if finite.any() else 0.0
    hi = float(values[finite].max()) if finite.any() else 0.0
    v = np.where(finite, values, lo)
    fits = -32768 <= np.rint(lo) and np.rint(hi) <= 32767
    if fits and (dtype == "input" or np.array_equal(v, np.rint(v))):
        return 1.0, 0.0, np.rint(v).astype(np.int16)
    if hi == lo:
        intercept = float(_ds(lo))
        return 1.0, intercept, np.zeros(v.shape, np.int16)
    slope = float(_ds((hi - lo) / 65000.0))
    intercept = float(_ds((hi + lo) / 2.0))
    stored = np.clip(np.rint((v.astype(np.float64) - intercept) / slope), -32768, 32767)
    return slope, intercept, stored.astype(np.int16)


def fit_mr(values: np.ndarray, dtype: str = "float32") -> tuple[float, float, np.ndarray]:
    """Stored values for an MR series, whose IOD has no Modality LUT: the values rounded when
    their range spans at least 256 integers (error ≤ 0.5, far below MR noise) or ``dtype="input"``,
    else :func:`fit_rescale`'s scaled int16 with the map kept in a RealWorldValueMapping."""
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if -32768 <= np.rint(lo) and np.rint(hi) <= 32767 and (dtype == "input" or hi - lo >= 256):
        return 1.0, 0.0, np.rint(np.where(np.isfinite(values), values, lo)).astype(np.int16)
    return fit_rescale(values, dtype)


def _value_mapping(ds: Any, slope: float, intercept: float, units: str) -> None:
    """Rescale attributes (CT and others) or, for MR, a RealWorldValueMapping when not identity."""
    from pydicom.dataset import Dataset

    from medsr.io.dicom_refs import code_item

    if str(ds.get("SOPClassUID", "")) != MR_IMAGE_STORAGE:
        ds.RescaleSlope, ds.RescaleIntercept = _ds(slope), _ds(intercept)
        if str(ds.get("Modality", "")).upper() != "CT" and "RescaleType" not in ds:
            ds.RescaleType = "US"
        return
    if (slope, intercept) == (1.0, 0.0):
        return
    item = Dataset()
    item.RealWorldValueFirstValueMapped, item.RealWorldValueLastValueMapped = -32768, 32767
    item.RealWorldValueSlope, item.RealWorldValueIntercept = slope, intercept
    item.LUTExplanation, item.LUTLabel = "medsr: value = slope * stored + intercept", "MEDSR"
    item.MeasurementUnitsCodeSequence = [code_item("1", "UCUM", "no units" if units == "a.u." else units)]
    ds.RealWorldValueMappingSequence = [item]


def _clean(template: Any) -> Any:
    """A copy of the template without pixels, private, retired, overlay or stale attributes."""
    from pydicom.datadict import dictionary_has_tag, dictionary_is_retired

    ds = copy.deepcopy(template)
    ds.remove_private_tags()
    for elem in list(ds):
        tag = elem.tag
        group = tag.group
        if (
            group == 0x0000
            or group == 0x0002
            or tag.element == 0x0000
            or 0x5000 <= group <= 0x60FF
            or elem.VR == "UN"
            or (dictionary_has_tag(tag) and dictionary_is_retired(tag))
        ):
            del ds[tag]
    for keyword in _DROP:
        if keyword in ds:
            delattr(ds, keyword)
    return ds


def _thickness(image: Image) -> float:
    sz = float(image.spacing[2])
    source = image.meta.header.get("source_spacing")
    if image.meta.slice_thickness and source and abs(float(source[2]) - sz) <= 1e-6 * max(sz, 1.0):
        return float(image.meta.slice_thickness)
    return sz


def _spacing_tags(ds: Any, image: Image) -> None:
    """PixelSpacing ``[Y, X]`` of the new grid; ImagerPixelSpacing scaled by the same factors.

    A source whose pixel size was unknown (``spacing_assumed``) gets no PixelSpacing, and one
    that had only ImagerPixelSpacing (projection X-ray) keeps only that.
    """
    header = image.meta.header
    sx, sy = float(image.spacing[0]), float(image.spacing[1])
    source = header.get("source_spacing") or [sx, sy]
    if "ImagerPixelSpacing" in ds:
        try:
            iy, ix = (float(v) for v in ds.ImagerPixelSpacing)
            ds.ImagerPixelSpacing = [_ds(iy * sy / float(source[1])), _ds(ix * sx / float(source[0]))]
        except (TypeError, ValueError, ZeroDivisionError):
            del ds.ImagerPixelSpacing
    if header.get("spacing_assumed"):
        if "PixelSpacing" in ds:
            del ds.PixelSpacing  # the source's pixel size was unknown; do not invent one
    elif header.get("pixel_spacing_from") != "ImagerPixelSpacing" or "PixelSpacing" in ds:
        ds.PixelSpacing = [_ds(sy), _ds(sx)]


def _now() -> tuple[str, str]:
    now = _dt.datetime.now()
    return now.strftime("%Y%m%d"), now.strftime("%H%M%S.%f")


def _series_tags(
    ds: Any, image: Image, slope: float, intercept: float, lo: float, hi: float, sidecar: dict[str, Any]
) -> None:
    """Set the attributes shared by every slice of the new series."""
    from pydicom.uid import generate_uid

    day, time = _now()
    old_type = list(ds.get("ImageType", []) or [])
    ds.ImageType = ["DERIVED", "SECONDARY"] + [str(v) for v in old_type[2:]]
    ds.SeriesInstanceUID = generate_uid()
    number = int(ds.get("SeriesNumber") or 0) + 1000
    ds.SeriesNumber = number if number < 2**31 else 1000
    label = method_label(image, sidecar)
    desc = str(sidecar.get("series_description") or f"{ds.get('SeriesDescription', '') or ''} medsr {label}")
    ds.SeriesDescription = desc.strip()[:64]
    sx, sy, sz = (float(s) for s in image.spacing)
    derivation = sidecar.get("derivation_description") or (
        f"{DEFAULT_DERIVATION} ({label}): {image.shape[0]}x{image.shape[1]}x{image.shape[2]} voxels of "
        f"{sx:.4g} x {sy:.4g} x {sz:.4g} mm"
    )
    ds.DerivationDescription = str(derivation)[:1024]
    add_series_references(ds, image, str(derivation))
    ds.SeriesDate = ds.ContentDate = ds.InstanceCreationDate = day
    ds.SeriesTime = ds.ContentTime = ds.InstanceCreationTime = time
    ds.Rows, ds.Columns = int(image.shape[1]), int(image.shape[0])
    _spacing_tags(ds, image)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    _value_mapping(ds, slope, intercept, image.meta.units)
    if image.meta.spatial_dims == 3 or "SliceThickness" in ds:
        ds.SliceThickness = _ds(_thickness(image))
    if image.shape[2] > 1:
        ds.SpacingBetweenSlices = _ds(sz)
    widths = ds.get("WindowWidth")
    if widths is None or min(float(w) for w in np.atleast_1d(widths)) < 1:
        ds.WindowCenter, ds.WindowWidth = _ds((lo + hi) / 2), _ds(max(hi - lo, 1.0))
    if "ImageOrientationPatient" in ds or image.meta.spatial_dims == 3:
        d = image.direction
        ds.ImageOrientationPatient = [_ds(v) for v in (*d[:, 0], *d[:, 1])]


def _slice_dataset(base: Any, k: int, image: Image, plane: np.ndarray, positioned: bool) -> Any:
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid

    ds = copy.deepcopy(base)
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceNumber = k + 1
    pos = image.origin + image.direction[:, 2] * (k * float(image.spacing[2]))
    if positioned:
        ds.ImagePositionPatient = [_ds(v) for v in pos]
        normal = np.cross(image.direction[:, 0], image.direction[:, 1])
        ds.SliceLocation = _ds(float(pos @ normal))
    items = source_items(image, pos if positioned else None)
    if items:
        ds.SourceImageSequence = items
    ds.PixelData = np.ascontiguousarray(plane.T).astype("<i2").tobytes()  # (rows=Y, columns=X)
    ds["PixelData"].VR = "OW"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "MEDSR"
    ds.file_meta = meta
    return ds


def write_dicom_series(
    image: Image, folder: Path, *, dtype: str = "float32", sidecar: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Write ``image`` (C = 1) into the new folder ``folder``, one file per Z slice.

    ``sidecar`` may give ``derivation_description`` and ``series_description``.
    Returns facts for the sidecar: ``series_instance_uid``, ``n_files``, ``rescale_slope``,
    ``rescale_intercept``.
    """
    import pydicom

    files = check_dicom_source(image, folder)
    template = pydicom.dcmread(files[0], stop_before_pixels=True)
    base = _clean(template)
    values = image.data[0]
    mr = str(template.get("SOPClassUID", "")) == MR_IMAGE_STORAGE
    slope, intercept, stored = (fit_mr if mr else fit_rescale)(values, dtype)
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    _series_tags(base, image, slope, intercept, lo, hi, sidecar or {})
    positioned = "ImageOrientationPatient" in base
    folder.mkdir()
    for k in range(image.shape[2]):
        ds = _slice_dataset(base, k, image, stored[:, :, k], positioned)
        pydicom.dcmwrite(folder / f"IM{k + 1:05d}.dcm", ds, enforce_file_format=True)
    logger.info("%s: wrote %d DICOM files (slope %s, intercept %s)", folder, image.shape[2], slope, intercept)
    return {
        "series_instance_uid": str(base.SeriesInstanceUID),
        "n_files": int(image.shape[2]),
        "rescale_slope": slope,
        "rescale_intercept": intercept,
    }
