"""Geometry of a stack of DICOM planes: slice order, spacing, origin and direction (LPS mm).

* Direction columns are the row direction, the column direction (ImageOrientationPatient,
  normalised, kept oblique) and their cross product, the slice normal.
* PixelSpacing is ``[between rows, between columns]`` = ``[Y, X]``; when it is missing or
  0 (common on X-rays), ImagerPixelSpacing is used, else 1 mm is assumed with a warning.
* Slices are sorted by their ImagePositionPatient projected on the normal; the Z spacing is
  the mean step ``(last - first) / (n - 1)``. Steps that vary by more than 0.1 % are
  reported (a warning; the mean is used), by more than :data:`IRREGULAR` of the mean the
  series is refused, as are duplicated positions.
* The origin is the position of the first sorted slice.

Example:
    >>> import numpy as np
    >>> row, col = np.array([1.0, 0, 0]), np.array([0, 0.9909, 0.1341])
    >>> slice_normal(row, col).round(3).tolist()
    [0.0, -0.134, 0.991]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medsr.errors import GeometryError

logger = logging.getLogger(__name__)

#: largest relative deviation of one slice step from the mean step that is still accepted
IRREGULAR = 0.2
#: relative deviation above which a warning is logged
NONUNIFORM = 1e-3
#: shear of the stack (degrees between the slice normal and the line of positions) that is reported
TILT_DEG = 0.5

_LETTERS = {
    "L": (1, 0, 0),
    "R": (-1, 0, 0),
    "P": (0, 1, 0),
    "A": (0, -1, 0),
    "H": (0, 0, 1),
    "S": (0, 0, 1),
    "F": (0, 0, -1),
    "I": (0, 0, -1),
}


@dataclass
class StackGeometry:
    """Order of the planes and the grid they form (spacing X, Y, Z in mm)."""

    order: list[int]
    spacing: tuple[float, float, float]
    origin: np.ndarray
    direction: np.ndarray
    facts: dict[str, Any] = field(default_factory=dict)


def slice_normal(row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """Unit normal of a plane spanned by ``row`` and ``col`` direction cosines."""
    n = np.cross(row, col)
    return n / np.linalg.norm(n)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _patient_orientation(value: Any) -> np.ndarray | None:
    """Direction from PatientOrientation letters (e.g. ``['L', 'F']``), or None."""
    try:
        parts = [str(v).upper() for v in value]
    except TypeError:
        return None
    if len(parts) != 2 or not all(parts) or any(c not in _LETTERS for p in parts for c in p):
        return None
    cols = [_unit(np.sum([_LETTERS[c] for c in p], axis=0).astype(float)) for p in parts]
    normal = np.cross(cols[0], cols[1])
    if np.linalg.norm(normal) < 0.5:
        return None
    return np.column_stack([cols[0], cols[1], _unit(normal)])


def in_plane_spacing(pixel_spacing: tuple[float, float] | None, ds: Any, path: Path) -> tuple[float, float, str]:
    """``(x, y, source)`` spacing in mm; source is ``PixelSpacing``, ``ImagerPixelSpacing`` or ``assumed``."""
    if pixel_spacing is not None and min(pixel_spacing) > 0:
        return float(pixel_spacing[1]), float(pixel_spacing[0]), "PixelSpacing"
    imager = ds.get("ImagerPixelSpacing")
    try:
        ys, xs = (float(v) for v in imager)
        if xs > 0 and ys > 0 and np.isfinite(xs + ys):
            return xs, ys, "ImagerPixelSpacing"
    except (TypeError, ValueError):
        pass
    logger.warning(
        "%s: PixelSpacing is missing or 0 and there is no ImagerPixelSpacing; "
        "assuming 1 mm pixels (sizes in mm are unknown)",
        path,
    )
    return 1.0, 1.0, "assumed"


def _single_z_spacing(ds: Any, thickness: float | None) -> tuple[float, bool]:
    for value in (ds.get("SpacingBetweenSlices"), thickness):
        try:
            v = float(value)  # type: ignore[arg-type]  # None and odd values land in the except
        except (TypeError, ValueError):
            continue
        if v > 0 and np.isfinite(v):
            return v, False
    return 1.0, True


def _check_steps(steps: np.ndarray, mean: float, path: Path) -> float:
    """The largest deviation (mm) of a step from the mean; raises on duplicates or gaps."""
    if np.any(steps < 1e-4 * max(mean, 1.0)):
        dup = int(np.count_nonzero(steps < 1e-4 * max(mean, 1.0)))
        raise GeometryError(
            path,
            f"{dup} slices share a position with another slice (duplicates, "
            "or several volumes such as echoes or time points in one series)",
            "split the series into single volumes or remove the duplicated files",
        )
    dev = float(np.max(np.abs(steps - mean)))
    if dev > IRREGULAR * mean:
        raise GeometryError(
            path,
            f"slice positions are irregular: steps from {steps.min():.4g} to "
            f"{steps.max():.4g} mm around a mean of {mean:.4g} mm (missing slices?)",
            "check that the series is complete, or resample it to a regular grid first",
        )
    if dev > NONUNIFORM * mean:
        logger.warning(
            "%s: slice spacing is not quite uniform (steps %.4g to %.4g mm, up to %.3g mm from "
            "the mean); using the mean spacing %.6g mm",
            path,
            steps.min(),
            steps.max(),
            dev,
            mean,
        )
    return dev


def _check_positions(positions: Sequence[np.ndarray | None], path: Path) -> None:
    """Refuse a stack in which some slices lack ImagePositionPatient or hold non-finite values.

    Stacking such slices in file order (ignoring the others' positions) would be silent garbage.
    """
    missing = [i for i, p in enumerate(positions) if p is None]
    bad = [i for i, p in enumerate(positions) if p is not None and not np.all(np.isfinite(p))]
    legacy = positions and positions[0] is not None and missing == list(range(1, len(positions)))
    if bad or (missing and len(missing) < len(positions) and not legacy):  # legacy multi-frame: first only
        what = f"{len(bad)} slice(s) with a non-finite" if bad else f"{len(missing)} slice(s) without an"
        raise GeometryError(
            path,
            f"{what} ImagePositionPatient among {len(positions)}; medsr cannot order the stack by position",
            "remove those slices from the folder (or fix their ImagePositionPatient) and read it again",
        )


def stack_geometry(
    positions: Sequence[np.ndarray | None],
    orientations: Sequence[np.ndarray | None],
    xy_spacing: tuple[float, float],
    thickness: float | None,
    ds: Any,
    path: Path,
) -> StackGeometry:
    """Sort planes and derive the grid (see the module docstring).

    Raises:
        GeometryError: mixed orientations, duplicated or grossly irregular positions.
    """
    n = len(positions)
    oris = [o for o in orientations if o is not None]
    if oris and any(np.max(np.abs(o - oris[0])) > 1e-4 for o in oris):
        raise GeometryError(
            path,
            "the slices have different ImageOrientationPatient values",
            "split the series by orientation (e.g. localizers) and read one stack",
        )
    facts: dict[str, Any] = {}
    if oris:
        row, col = _unit(oris[0][:3]), _unit(oris[0][3:])
        direction = np.column_stack([row, col, slice_normal(row, col)])
    else:
        from_patient = _patient_orientation(ds.get("PatientOrientation"))
        facts["direction_from"] = "PatientOrientation" if from_patient is not None else "identity"
        direction = np.eye(3) if from_patient is None else from_patient
    have_pos = all(p is not None for p in positions)
    _check_positions(positions, path)
    if n > 1 and have_pos:
        pos = np.asarray(positions, dtype=np.float64)
        along = pos @ direction[:, 2]
        order = [int(i) for i in np.argsort(along, kind="stable")]
        sorted_along = along[order]
        mean = float(sorted_along[-1] - sorted_along[0]) / (n - 1)
        facts["spacing_nonuniformity_mm"] = _check_steps(np.diff(sorted_along), mean, path)
        drift = pos[order] - np.outer(sorted_along, direction[:, 2])
        shift = np.linalg.norm(drift[-1] - drift[0])
        tilt = float(np.degrees(np.arctan2(shift, sorted_along[-1] - sorted_along[0])))
        if tilt > TILT_DEG:
            logger.warning(
                "%s: the slices are sheared by %.2f° along the stack (gantry tilt?); the grid "
                "keeps the slice normal, so positions are approximate",
                path,
                tilt,
            )
        facts["shear_deg"] = tilt
        return StackGeometry(order, (*xy_spacing, mean), pos[order[0]], direction, facts)
    z, assumed = _single_z_spacing(ds, thickness)
    if n > 1 and assumed:
        logger.warning("%s: %d frames without positions or spacing; assuming 1 mm between them", path, n)
    facts["z_spacing_assumed"] = bool(n > 1 and assumed)
    origin = positions[0] if positions and positions[0] is not None else np.zeros(3)
    return StackGeometry(list(range(n)), (*xy_spacing, z), np.asarray(origin, dtype=np.float64), direction, facts)
