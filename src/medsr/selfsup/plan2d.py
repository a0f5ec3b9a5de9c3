"""Planning a zero-data super-resolution of a 2D image: the factors, the acquisition model of its
pixels, the output grid.

A 2D image (radiograph, CT slice, photograph; grey or RGB) has no sharp axis to learn from; the
image itself plays the sharp part (ZSSR: Shocher et al., CVPR 2018): it is degraded along both
axes by the factors with the acquisition model of its pixels and the network learns to undo
that, then restores the image itself onto the finer grid. The pixel's acquisition model
(``profile``) is a rect aperture of one input pixel by default (a detector element or a camera
pixel integrates its own area, the referee's convention), a Gaussian of that FWHM, or a kernel
file (offsets in mm). One 2D image cannot tell its own aperture, so the model is stated, never
estimated, and the sidecar says so.

Example:
    >>> import numpy as np
    >>> from medsr.image import Image
    >>> p = plan_image(Image(np.zeros((1, 160, 128, 1), np.float32), spacing=(0.2, 0.2, 1.0)), factors=(4, 4))
    >>> p.output_grid.shape, p.train_factors
    ((640, 512, 1), {0: (4.0, 4.0), 1: (4.0, 4.0)})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from medsr.acquisition.profile import SliceProfile
from medsr.errors import ConfigError, InvalidImageError
from medsr.geometry import Grid, upsample_grid
from medsr.image import Image

#: Largest per-axis factor of a 2D enhance (beyond it there is too little image to learn from).
MAX_FACTOR_2D = 8.0
#: Fewest pixels along a side of the image's downscaled copy (its training input). Below it the
#: fit learns next to nothing that transfers: a 500 × 300 H&E tile at ×4 (a 31 × 19 copy) lost
#: 2.3 dB to B-spline in ``benchmarks/enhance2d.py``.
MIN_COPY_PX = 32


@dataclass(frozen=True)
class ImagePlan:
    """What :func:`medsr.selfsup.enhance` does to a 2D image (lengths in mm).

    Attributes:
        spacing_in: input pixel spacing (X, Y).
        factors: per-axis factor (X, Y), input spacing / output spacing (non-integer allowed).
        profile: the pixel's acquisition model along each axis; its width is ``aperture_px``
            input pixels (the thickness of the 3D plans, here in mm along X).
        aperture_px: aperture width in input pixels (1: the pixel's own area).
        output_grid: the SR grid (field of view preserved).
        train_factors: per axis ``(f, t)``: the factor and the aperture in samples of the image
            when the image itself is degraded for training.
        noise: ``{"kind", "sigma", "relative"}`` estimated from the image.
    """

    spacing_in: tuple[float, float]
    factors: tuple[float, float]
    profile: SliceProfile
    aperture_px: float
    output_grid: Grid
    train_factors: dict[int, tuple[float, float]]
    noise: dict[str, Any] = field(default_factory=dict)

    def fine_profile(self, axis: int) -> SliceProfile:
        """The acquisition model along ``axis`` in samples of the fine grid (input spacing / f).

        The same numbers serve training, where the image is the fine grid of its own copy
        downscaled by f (its pixels' model stretched by f: ZSSR's scale transfer), and
        inference, where the output is the fine grid of the input."""
        f = self.factors[axis]
        prof = self.profile
        if prof.kind == "kernel" and prof.kernel_mm is not None:
            fine = self.spacing_in[axis] / f
            offs = tuple(float(o) / fine for o in prof.kernel_mm[0])
            return SliceProfile("kernel", self.aperture_px * f, (offs, tuple(prof.kernel_mm[1])))
        return SliceProfile(prof.kind, self.aperture_px * f)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "2d",
            "input_spacing_mm": [float(s) for s in self.spacing_in],
            "factors": [float(f) for f in self.factors],
            "profile": self.profile.to_dict(),
            "aperture_px": float(self.aperture_px),
            "profile_source": "assumed (one 2D image cannot show its own pixel aperture)",
            "output_shape": list(self.output_grid.shape),
            "output_spacing_mm": [float(s) for s in self.output_grid.spacing],
            "train_factors": {"XY"[a]: {"f": float(f), "t": float(t)} for a, (f, t) in self.train_factors.items()},
            "noise": {k: (round(v, 6) if isinstance(v, float) else v) for k, v in self.noise.items()},
        }


def _factors(image: Image, spacing: ArrayLike | None, factors: ArrayLike | None) -> tuple[float, float]:
    path = image.meta.source_path
    if spacing is not None and factors is not None:
        raise ConfigError(path, "give either target spacing or factors, not both", "pass one of them")
    if factors is not None:
        f = np.asarray(factors, dtype=np.float64).ravel()
    elif spacing is not None:
        f = np.asarray(image.spacing, dtype=np.float64)[: len(np.ravel(spacing))] / np.asarray(spacing, np.float64)
    else:
        raise ConfigError(path, "a 2D image has no thick axis to restore by default", "give --factors FX FY, e.g. 4 4")
    fx, fy = float(f[0]), float(f[1] if f.size > 1 else f[0])
    if f.size > 2 and abs(float(f[2]) - 1.0) > 1e-6:
        raise ConfigError(path, f"a 2D image has one plane; factor {f[2]:g} along Z", "give two factors, FX FY")
    if not (np.isfinite([fx, fy]).all() and 1.0 <= min(fx, fy) and max(fx, fy) <= MAX_FACTOR_2D and max(fx, fy) > 1):
        raise ConfigError(
            path,
            f"2D enhance takes factors from 1 to {MAX_FACTOR_2D:g} with one above 1, got {fx:g} {fy:g}",
            "give e.g. --factors 4 4",
        )
    return fx, fy


def _pixel_profile(profile: str | SliceProfile | None, path: str | None) -> SliceProfile:
    if isinstance(profile, SliceProfile):
        return profile
    if profile in (None, "auto", "rect"):
        return SliceProfile("rect", 1.0)
    if profile == "gaussian":
        return SliceProfile("gaussian", 1.0)
    return SliceProfile.from_file(str(profile))  # its errors name the file and the remedy


def plan_image(
    image: Image,
    spacing: ArrayLike | None = None,
    factors: ArrayLike | None = None,
    profile: str | SliceProfile | None = "auto",
) -> ImagePlan:
    """The plan of a 2D enhance (``image`` ``(C, X, Y, 1)``, C = 1 or 3).

    Args:
        spacing: target pixel spacing (mm, X Y) instead of ``factors``.
        factors: per-axis factors (X, Y), each from 1 to :data:`MAX_FACTOR_2D`.
        profile: ``"auto"``/``"rect"`` (a rect aperture of one input pixel), ``"gaussian"``
            (FWHM one input pixel) or a kernel file (offsets in mm) / :class:`SliceProfile`.

    Raises:
        InvalidImageError: not 2D, or too small to learn from.
        ConfigError: factors out of range.
    """
    path = image.meta.source_path
    if not image.is_2d or image.channels not in (1, 3):
        raise InvalidImageError(path, f"2D enhance needs a grey or RGB 2D image, got {image.shape}", "give one image")
    fx, fy = _factors(image, spacing, factors)
    small = min(image.shape[0] / fx, image.shape[1] / fy)
    if small < MIN_COPY_PX:
        raise InvalidImageError(
            path,
            f"{image.shape[0]}×{image.shape[1]} pixels leave {small:.0f} (under {MIN_COPY_PX}) along one side once "
            f"downscaled by {fx:g}×{fy:g}: too little for the image to teach itself",
            "use medsr predict -m BUNDLE (medsr models lists them), smaller factors or a larger image",
        )
    prof = _pixel_profile(profile, path)
    aperture = 1.0 if prof.kind == "kernel" else float(prof.thickness_mm)
    sx, sy = (float(s) for s in image.spacing[:2])
    if prof.kind == "kernel":
        aperture = float(prof.thickness_mm) / sx
    out = upsample_grid(image.grid, factors=(fx, fy, 1.0))
    return ImagePlan(
        spacing_in=(sx, sy),
        factors=(fx, fy),
        profile=prof if prof.kind == "kernel" else SliceProfile(prof.kind, aperture * sx),
        aperture_px=aperture,
        output_grid=out,
        train_factors={0: (fx, fx * aperture), 1: (fy, fy * aperture)},
    )
