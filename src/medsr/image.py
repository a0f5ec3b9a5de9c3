"""The one image type of medsr: a channels-first array that carries its place in the patient.

``Image.data`` is a float32 array of shape ``(C, X, Y, Z)``: C channels (1 for grey, 3 for
RGB), then the three spatial axes in the order of ``spacing``. A 2D image has ``Z = 1``.
Geometry follows :mod:`medsr.geometry` (LPS millimetres, ITK's direction convention).
Intensities are in the modality's physical units after reading: Hounsfield units for
CT (RescaleSlope/Intercept applied), scanner units for MRI, stored values for photos.

Example:
    >>> import numpy as np
    >>> img = Image(np.zeros((1, 4, 5, 6), np.float32), spacing=(0.5, 0.5, 2.0))
    >>> img.shape, img.channels, img.orientation
    ((4, 5, 6), 1, 'LPS')
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from medsr.errors import InvalidImageError
from medsr.geometry import LPS_TO_RAS, Grid, grid_from_affine, obliquity_deg, orientation_code


@dataclass
class ImageMeta:
    """What is known about an image besides its voxels.

    Attributes:
        modality: DICOM modality code: ``CT``, ``MR``, ``CR``, ``DX``, ``XC`` (colour photo),
            ``SM`` (slide microscopy) or ``OT`` (unknown).
        units: intensity units, e.g. ``HU`` or ``a.u.``.
        slice_thickness: nominal thickness (mm) of the acquired slices along Z, kept apart
            from the Z spacing (they differ when slices have gaps or overlap); ``None`` if unknown.
        source_format: ``nifti``, ``nrrd``, ``mha``, ``dicom-series``, ``dicom``, ``png``,
            ``tiff``, ``jpeg`` or ``array``.
        source_path: where the image was read from.
        source_dtype: numpy dtype name of the stored values (``int16``, ``uint8`` …), used by
            ``--dtype input`` when writing.
        spatial_dims: 2 for planar images (X-ray, photos, one slice), 3 for volumes.
        rgb: True when the channels are red, green, blue.
        header: JSON-able source header for writing back (e.g. DICOM file list and UIDs).
        history: operations applied so far, one dict each (goes into the sidecar).
    """

    modality: str = "OT"
    units: str = "a.u."
    slice_thickness: float | None = None
    source_format: str = "array"
    source_path: str | None = None
    source_dtype: str = "float32"
    spatial_dims: int = 3
    rgb: bool = False
    header: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)


class Image:
    """A ``(C, X, Y, Z)`` float32 array with spacing, origin and direction (LPS, mm)."""

    __slots__ = ("data", "grid", "meta")

    def __init__(
        self,
        data: np.ndarray,
        spacing: ArrayLike = (1.0, 1.0, 1.0),
        origin: ArrayLike = (0.0, 0.0, 0.0),
        direction: np.ndarray | ArrayLike | None = None,
        meta: ImageMeta | None = None,
    ) -> None:
        arr = np.asarray(data)
        if arr.ndim != 4:
            raise InvalidImageError(
                meta.source_path if meta else None,
                f"image array must be (C, X, Y, Z), got {arr.ndim}-D shape {arr.shape}",
                "give channels first and pad 2D images with Z = 1",
            )
        if arr.size == 0:
            raise InvalidImageError(
                meta.source_path if meta else None,
                f"image has zero size {arr.shape}",
                "check the file holds pixel data",
            )
        if arr.dtype != np.float32 and not np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(np.float32)
        self.data = arr
        d = np.eye(3) if direction is None else np.asarray(direction, dtype=np.float64)
        sp, org = np.asarray(spacing, dtype=np.float64), np.asarray(origin, dtype=np.float64)
        self.grid = Grid((arr.shape[1], arr.shape[2], arr.shape[3]), sp, org, d)
        self.meta = meta if meta is not None else ImageMeta()

    # -- geometry -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        """Spatial size (X, Y, Z) in voxels."""
        return self.grid.shape

    @property
    def channels(self) -> int:
        return int(self.data.shape[0])

    @property
    def spacing(self) -> np.ndarray:
        """Voxel spacing (mm) along X, Y, Z."""
        return self.grid.spacing

    @property
    def origin(self) -> np.ndarray:
        """World position (LPS mm) of the centre of voxel (0, 0, 0)."""
        return self.grid.origin

    @property
    def direction(self) -> np.ndarray:
        """3×3 matrix; column a is the world unit vector of array axis a."""
        return self.grid.direction

    @property
    def affine(self) -> np.ndarray:
        """4×4 voxel-index-to-LPS-mm matrix."""
        return self.grid.affine

    def to_ras_affine(self) -> np.ndarray:
        """4×4 voxel-index-to-**RAS** mm matrix: the affine nibabel, TorchIO and MONAI use.

        Example:
            >>> img = Image(np.zeros((1, 2, 2, 2), np.float32), spacing=(1, 1, 3), origin=(5, 6, 7))
            >>> img.to_ras_affine()[:3, 3].tolist()
            [-5.0, -6.0, 7.0]
        """
        return LPS_TO_RAS @ self.affine

    @classmethod
    def from_ras_affine(cls, data: np.ndarray, affine: ArrayLike, meta: ImageMeta | None = None) -> Image:
        """An Image ``(C, X, Y, Z)`` from voxels and a 4×4 RAS affine (nibabel's ``img.affine``).

        Example:
            >>> a = np.diag([2.0, 2.0, 5.0, 1.0])
            >>> img = Image.from_ras_affine(np.zeros((1, 3, 3, 3), np.float32), a)
            >>> img.direction.diagonal().tolist(), np.allclose(img.to_ras_affine(), a)
            ([-1.0, -1.0, 1.0], True)
        """
        arr = np.asarray(data)
        grid = grid_from_affine(arr.shape[1:], LPS_TO_RAS @ np.asarray(affine, dtype=np.float64))
        return cls.from_grid(arr, grid, meta)

    @property
    def orientation(self) -> str:
        return orientation_code(self.direction)

    @property
    def is_2d(self) -> bool:
        return self.meta.spatial_dims == 2 or self.shape[2] == 1

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_grid(cls, data: np.ndarray, grid: Grid, meta: ImageMeta | None = None) -> Image:
        return cls(data, grid.spacing, grid.origin, grid.direction, meta)

    def with_data(self, data: np.ndarray, grid: Grid | None = None, **meta_changes: Any) -> Image:
        """A new Image with ``data`` (and optionally a new grid); meta is copied and updated."""
        meta = replace(self.meta, header=copy.deepcopy(self.meta.header), history=list(self.meta.history))
        for key, value in meta_changes.items():
            if not hasattr(meta, key):
                raise AttributeError(f"ImageMeta has no field {key!r}")
            setattr(meta, key, value)
        return Image.from_grid(data, grid or self.grid, meta)

    def copy(self) -> Image:
        return self.with_data(self.data.copy())

    def check_finite(self) -> None:
        """Raise :class:`InvalidImageError` if any value is NaN or infinite."""
        bad = int(np.size(self.data) - np.count_nonzero(np.isfinite(self.data)))
        if bad:
            raise InvalidImageError(
                self.meta.source_path,
                f"{bad} voxel values are NaN or infinite",
                "replace them (e.g. with the background value) before running medsr",
            )

    # -- display ----------------------------------------------------------------------------
    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)

    def __repr__(self) -> str:
        sp = "×".join(f"{s:.4g}" for s in self.spacing)
        extra = f", thickness={self.meta.slice_thickness:.4g} mm" if self.meta.slice_thickness else ""
        obl = obliquity_deg(self.direction)
        orient = self.orientation + (f" (oblique {obl:.1f}°)" if obl > 0.5 else "")
        return (
            f"Image(shape=(C={self.channels}, X={self.shape[0]}, Y={self.shape[1]}, "
            f"Z={self.shape[2]}), spacing={sp} mm{extra}, orientation={orient}, "
            f"modality={self.meta.modality}, units={self.meta.units}, dtype={self.data.dtype}, "
            f"memory={self.nbytes / 2**20:.1f} MiB)"
        )
