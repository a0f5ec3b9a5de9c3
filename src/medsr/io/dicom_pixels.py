"""Decoding one DICOM data set into planes of physical values, with their geometry tags.

Pixel data are decoded by pydicom (compressed transfer syntaxes through the pylibjpeg
plugins: JPEG baseline/lossless, JPEG 2000, RLE). Then, per frame:

* grey images get the modality transform (RescaleSlope/Intercept, from the per-frame or
  shared functional groups of enhanced objects, or a Modality LUT), so CT is in HU;
* MONOCHROME1 (high values dark) is inverted into the MONOCHROME2 sense within the range
  the stored bits allow, so bone stays bright and lungs dark on a chest X-ray;
* YBR colour is converted to RGB by pydicom, PALETTE COLOR is expanded to RGB.

Each frame becomes a :class:`Plane` of shape ``(rows, columns, samples)`` with its
ImagePositionPatient, ImageOrientationPatient, PixelSpacing (row, column) and SliceThickness
when the data set gives them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medsr.errors import InvalidImageError, ReadError

logger = logging.getLogger(__name__)

_PIXEL_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


@dataclass
class Plane:
    """One decoded frame: ``pixels`` (rows, columns, samples) float32 and its geometry tags."""

    pixels: np.ndarray
    position: np.ndarray | None
    orientation: np.ndarray | None
    pixel_spacing: tuple[float, float] | None  # (between rows, between columns) = (Y, X) mm
    thickness: float | None
    slope: float = 1.0
    intercept: float = 0.0


def _floats(value: Any, n: int) -> np.ndarray | None:
    try:
        arr = np.asarray([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return arr if arr.size == n and np.all(np.isfinite(arr)) else None


def _scalar(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def frame_item(ds: Any, index: int, sequence: str) -> Any | None:
    """The first item of a functional-group ``sequence`` for frame ``index`` (per-frame, then shared)."""
    for groups_name, i in (("PerFrameFunctionalGroupsSequence", index), ("SharedFunctionalGroupsSequence", 0)):
        groups = ds.get(groups_name)
        if groups is None or len(groups) <= i:
            continue
        seq = groups[i].get(sequence)
        if seq is not None and len(seq):
            return seq[0]
    return None


def _medsr_mapping(ds: Any) -> Any:
    """The real-world value mapping medsr writes into MR series (whose IOD has no rescale), as
    an object with ``RescaleSlope``/``RescaleIntercept``; ``None`` for any other mapping."""
    for item in ds.get("RealWorldValueMappingSequence") or []:
        if str(item.get("LUTLabel", "")) == "MEDSR" and "RealWorldValueSlope" in item:
            return {
                "RescaleSlope": item.RealWorldValueSlope,
                "RescaleIntercept": item.get("RealWorldValueIntercept", 0),
            }
    return None


def _frame_tags(ds: Any, index: int) -> dict[str, Any]:
    """Position, orientation, spacing, thickness, slope and intercept of frame ``index``."""
    pos = frame_item(ds, index, "PlanePositionSequence") if "PerFrameFunctionalGroupsSequence" in ds else None
    ori = frame_item(ds, index, "PlaneOrientationSequence")
    meas = frame_item(ds, index, "PixelMeasuresSequence")
    pvt = frame_item(ds, index, "PixelValueTransformationSequence")
    spacing = _floats(meas.get("PixelSpacing"), 2) if meas is not None else None
    if spacing is None:
        spacing = _floats(ds.get("PixelSpacing"), 2)
    thickness = _scalar(meas.get("SliceThickness")) if meas is not None else None
    src = pvt if pvt is not None and "RescaleSlope" in pvt else ds
    if "RescaleSlope" not in src:
        src = _medsr_mapping(ds) or src
    return {
        # without per-frame positions only the first frame is placed (legacy multi-frame)
        "position": _floats(pos.get("ImagePositionPatient"), 3)
        if pos is not None
        else (_floats(ds.get("ImagePositionPatient"), 3) if index == 0 else None),
        "orientation": _floats((ori if ori is not None else ds).get("ImageOrientationPatient"), 6),
        "pixel_spacing": None if spacing is None else (float(spacing[0]), float(spacing[1])),
        "thickness": thickness if thickness is not None else _scalar(ds.get("SliceThickness")),
        "slope": _scalar(src.get("RescaleSlope")) or 1.0,
        "intercept": _scalar(src.get("RescaleIntercept")) or 0.0,
    }


def _check_size(ds: Any, path: Path) -> None:
    """The pixel-count limit and the memory budget, from Rows/Columns/frames before decoding."""
    from medsr.budget import check_fits, check_pixels

    try:
        rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.get("BitsAllocated", 16) or 16)
    except (TypeError, ValueError):
        raise ReadError(
            path, "Rows, Columns, NumberOfFrames or SamplesPerPixel is not a number", "re-export it"
        ) from None
    if min(rows, cols, frames, samples) <= 0 or bits not in (1, 8, 16, 32, 64):
        raise InvalidImageError(
            path,
            f"DICOM size {rows}×{cols}, {frames} frame(s), {samples} sample(s), {bits} bits is not valid",
            "re-export it",
        )
    check_pixels(rows * cols, path)
    check_fits(rows * cols * frames * samples * (max(bits, 8) // 8 + 8), "decoding the DICOM pixel data", path)


def _decode(ds: Any, path: Path) -> np.ndarray:
    """pydicom's pixel array as (frames, rows, columns, samples); YBR comes back as RGB."""
    if not any(tag in ds for tag in _PIXEL_TAGS):
        raise ReadError(path, "the DICOM file holds no pixel data", "give an image file")
    _check_size(ds, path)
    try:
        arr = np.asarray(ds.pixel_array)
    except (RuntimeError, NotImplementedError, ValueError, AttributeError, KeyError, TypeError) as exc:
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        name = getattr(syntax, "name", str(syntax))
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        remedy = (
            "install the pylibjpeg plugins (pylibjpeg-libjpeg, -openjpeg, -rle) or decompress "
            "the file first (e.g. gdcmconv --raw)"
            if getattr(syntax, "is_compressed", False)
            else "the file may be truncated or corrupt; re-export it"
        )
        raise ReadError(path, f"could not decode the pixel data ({name}): {first}", remedy) from None
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if samples == 1:
        arr = arr[..., None]
    if frames == 1 or arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or 0 in arr.shape:
        raise InvalidImageError(
            path,
            f"decoded pixel array has an unexpected shape {arr.shape}",
            "check the file's Rows, Columns, NumberOfFrames and SamplesPerPixel",
        )
    return arr


def stored_range(ds: Any) -> tuple[float, float]:
    """The smallest and largest stored value that BitsStored/PixelRepresentation allow."""
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)) or 16)
    if int(ds.get("PixelRepresentation", 0) or 0):
        return float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    return 0.0, float(2**bits - 1)


def _grey_values(ds: Any, arr: np.ndarray, tags: list[dict[str, Any]], photometric: str) -> np.ndarray:
    """Modality values (float32) of grey frames, MONOCHROME1 inverted."""
    out = arr.astype(np.float32)
    lut_used = "ModalityLUTSequence" in ds and "RescaleSlope" not in ds
    if lut_used:
        from pydicom.pixels import apply_modality_lut

        out = np.asarray(apply_modality_lut(arr, ds), dtype=np.float32)
    else:
        for i, t in enumerate(tags):
            if t["slope"] != 1.0 or t["intercept"] != 0.0:
                out[i] = out[i] * np.float32(t["slope"]) + np.float32(t["intercept"])
    if photometric == "MONOCHROME1":
        if lut_used:
            lo, hi = float(out.min()), float(out.max())
            out = np.float32(lo + hi) - out
        else:
            s_lo, s_hi = stored_range(ds)
            for i, t in enumerate(tags):
                a, b = s_lo * t["slope"] + t["intercept"], s_hi * t["slope"] + t["intercept"]
                out[i] = np.float32(a + b) - out[i]
    return out


def decode_planes(ds: Any, path: Path) -> tuple[list[Plane], dict[str, Any]]:
    """Decode all frames of ``ds``; returns the planes and facts for ``meta.header``.

    Raises:
        ReadError: no pixel data, or a codec is missing.
        InvalidImageError: an impossible pixel array.
    """
    arr = _decode(ds, path)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper().strip()
    tags = [_frame_tags(ds, i) for i in range(arr.shape[0])]
    stored_dtype = arr.dtype.name
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        values = np.asarray(apply_color_lut(arr[..., 0], ds)).astype(np.float32)
        values = values.reshape(arr.shape[:3] + (3,))
    elif arr.shape[-1] == 1:
        values = _grey_values(ds, arr, tags, photometric)
    else:
        values = arr.astype(np.float32)  # RGB (YBR already converted by pydicom)
    planes = [
        Plane(
            values[i], t["position"], t["orientation"], t["pixel_spacing"], t["thickness"], t["slope"], t["intercept"]
        )
        for i, t in enumerate(tags)
    ]
    facts = {
        "photometric": photometric,
        "inverted": photometric == "MONOCHROME1",
        "stored_dtype": stored_dtype,
        "rgb": values.shape[-1] == 3,
        "number_of_frames": int(arr.shape[0]),
    }
    return planes, facts
