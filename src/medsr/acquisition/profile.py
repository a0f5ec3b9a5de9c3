"""Slice profiles: how one low-resolution sample integrates the high-resolution signal.

A scanner that acquires slices ``spacing_lr`` mm apart, each ``thickness`` mm thick, is a
linear operator along that axis. With HR voxels of ``spacing_hr`` mm, write
``f = spacing_lr / spacing_hr`` (any real ≥ 1) and ``t = thickness / spacing_hr``. LR sample
``j`` is centred at HR index ``c_j = j f + (f - 1) / 2`` (the field-of-view rule of
:mod:`medsr.geometry`) and is the HR signal weighted by the profile centred there:

* ``rect``: uniform sensitivity over ``[c - t/2, c + t/2]``; each HR voxel (a box of width 1)
  weighs by its overlap with that interval. ``t == f`` averages ``f`` voxels; ``t < f``
  leaves gaps; ``t > f`` overlaps.
* ``gaussian``: a Gaussian of full width at half maximum ``t``, integrated over each voxel.
* a kernel: sensitivity sampled at offsets (mm) from the slice centre, read from a file with
  two columns ``offset_mm weight``, linearly interpolated and integrated over each voxel.

Rows are normalised to sum to 1, so a constant image stays constant. Thickness is
independent of spacing (Greenspan, "Super-resolution in medical imaging", Comput. J. 2009;
Zhao et al., SMORE, IEEE TMI 2021).

Example:
    >>> W = SliceProfile("rect", thickness_mm=4.0).matrix(8, spacing_hr=1.0, spacing_lr=4.0)
    >>> W.shape, W[0, :5].round(3).tolist()
    ((2, 8), [0.25, 0.25, 0.25, 0.25, 0.0])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import sqrt
from pathlib import Path

import numpy as np

from medsr.errors import ConfigError

FWHM_TO_SIGMA = 1.0 / (2.0 * sqrt(2.0 * np.log(2.0)))
PROFILE_KINDS = ("rect", "gaussian", "kernel")


def _kernel_problem(table: np.ndarray) -> str:
    """What is wrong with a two-column kernel table, or ``""``."""
    if table.size == 0:
        return "the file is empty"
    if table.ndim != 2 or table.shape[1] != 2:
        return f"{table.shape[1] if table.ndim == 2 else 1} column(s) instead of 2"
    if table.shape[0] < 2:
        return f"{table.shape[0]} row(s), at least 2 needed"
    if not np.all(np.isfinite(table)):
        return f"{int(np.count_nonzero(~np.isfinite(table)))} value(s) are NaN or infinite"
    if np.any(np.diff(table[:, 0]) <= 0):
        return "the offsets do not increase"
    if np.any(table[:, 1] < 0):
        return f"negative weights (smallest {float(table[:, 1].min()):g})"
    if table[:, 1].sum() <= 0:
        return "all weights are zero"
    return ""


@dataclass(frozen=True)
class SliceProfile:
    """A slice sensitivity profile of a given thickness (mm).

    Args:
        kind: ``rect``, ``gaussian`` (thickness is the FWHM) or ``kernel``.
        thickness_mm: slice thickness (FWHM for a Gaussian). For ``kernel`` it is ignored.
        kernel_mm: ``(offsets_mm, weights)`` for ``kind='kernel'``.
    """

    kind: str = "rect"
    thickness_mm: float = 1.0
    kernel_mm: tuple[tuple[float, ...], tuple[float, ...]] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in PROFILE_KINDS:
            raise ConfigError(None, f"unknown slice profile {self.kind!r}", "use rect, gaussian or a kernel file")
        if self.kind == "kernel" and self.kernel_mm is None:
            raise ConfigError(None, "a kernel profile needs offsets and weights", "load it with from_file")
        if self.kind != "kernel" and not (np.isfinite(self.thickness_mm) and self.thickness_mm >= 0):
            raise ConfigError(
                None, f"slice thickness {self.thickness_mm} mm is not valid", "give a thickness of 0 mm or more"
            )

    @classmethod
    def from_spec(cls, spec: str, thickness_mm: float) -> SliceProfile:
        """``'rect'``, ``'gaussian'`` or a path to a two-column kernel file."""
        if spec in ("rect", "gaussian"):
            return cls(spec, float(thickness_mm))
        return cls.from_file(spec)

    @classmethod
    def from_file(cls, path: str | Path) -> SliceProfile:
        try:
            table = np.loadtxt(path, delimiter=None if str(path).endswith(".txt") else ",", ndmin=2)
        except (OSError, ValueError) as exc:
            try:
                table = np.loadtxt(path, ndmin=2)
            except (OSError, ValueError):
                raise ConfigError(
                    path,
                    f"cannot read slice-profile kernel ({exc})",
                    "write two columns: offset_mm weight, one sample a line",
                ) from None
        problem = _kernel_problem(table)
        if problem:
            raise ConfigError(
                path,
                f"slice-profile kernel is not valid: {problem}",
                "give two columns, offset_mm weight, at least 2 rows, increasing finite offsets and "
                "finite non-negative weights (medsr profile IN -o FILE writes one)",
            )
        width = float(table[-1, 0] - table[0, 0])
        return cls("kernel", width, (tuple(table[:, 0]), tuple(table[:, 1])))

    def to_dict(self) -> dict:
        d: dict = {"kind": self.kind, "thickness_mm": float(self.thickness_mm)}
        if self.kernel_mm is not None:
            d["kernel_mm"] = [list(self.kernel_mm[0]), list(self.kernel_mm[1])]
        return d

    # ----------------------------------------------------------------------------------
    def _row(self, centre: float, n_hr: int, spacing_hr: float) -> np.ndarray:
        idx = np.arange(n_hr, dtype=np.float64)
        lo_edge, hi_edge = idx - 0.5, idx + 0.5
        if self.kind == "rect":
            t = self.thickness_mm / spacing_hr
            if t < 1e-6:  # an ideal point sample: linear interpolation at the centre
                return np.clip(1.0 - np.abs(idx - centre), 0.0, None)
            lo, hi = centre - t / 2, centre + t / 2
            return np.clip(np.minimum(hi, hi_edge) - np.maximum(lo, lo_edge), 0.0, None)
        if self.kind == "gaussian":
            sigma = self.thickness_mm * FWHM_TO_SIGMA / spacing_hr
            if sigma < 1e-6:
                return np.clip(1.0 - np.abs(idx - centre), 0.0, None)
            from scipy.special import erf as verf

            scale = 1.0 / (sigma * sqrt(2.0))
            return 0.5 * (verf((hi_edge - centre) * scale) - verf((lo_edge - centre) * scale))
        kernel = self.kernel_mm or ((0.0,), (1.0,))
        offs = np.asarray(kernel[0]) / spacing_hr
        wts = np.asarray(kernel[1])
        sub = 16  # sub-samples per HR voxel for the numerical integral
        pos = (idx[:, None] - 0.5 + (np.arange(sub) + 0.5)[None, :] / sub) - centre
        return np.interp(pos, offs, wts, left=0.0, right=0.0).mean(axis=1)

    def matrix(self, n_hr: int, spacing_hr: float, spacing_lr: float, n_lr: int | None = None) -> np.ndarray:
        """The ``(n_lr, n_hr)`` float64 operator along one axis; rows sum to 1.

        ``n_lr`` defaults to ``floor(n_hr / f)`` (whole slices only).
        """
        f = spacing_lr / spacing_hr
        if n_lr is None:
            n_lr = max(1, int(np.floor(n_hr / f + 1e-9)))
        W = np.zeros((n_lr, n_hr), dtype=np.float64)
        for j in range(n_lr):
            row = self._row(j * f + (f - 1) / 2, n_hr, spacing_hr)
            s = row.sum()
            if s <= 0:  # profile narrower than a voxel and off-grid: nearest voxel
                row = np.zeros(n_hr)
                row[int(np.clip(round(j * f + (f - 1) / 2), 0, n_hr - 1))] = 1.0
                s = 1.0
            W[j] = row / s
        return W


def apply_along_axis(data: np.ndarray, W: np.ndarray, axis: int) -> np.ndarray:
    """``W`` (m, n) applied along ``axis`` (size n) of ``data``; returns float64 of size m there."""
    moved = np.moveaxis(np.asarray(data, dtype=np.float64), axis, 0)
    out = np.tensordot(W, moved, axes=(1, 0))
    return np.moveaxis(out, 0, axis)


def project_consistent(x: np.ndarray, y: np.ndarray, W: np.ndarray, axis: int) -> np.ndarray:
    """Project ``x`` (HR along ``axis``) so that ``W`` applied along that axis reproduces ``y``
    (:class:`medsr.acquisition.consistency.Consistency`, in float64)."""
    from medsr.acquisition.consistency import Consistency

    return Consistency.from_operator(W).project(np.asarray(x, np.float64), y, axis).astype(np.float32)
