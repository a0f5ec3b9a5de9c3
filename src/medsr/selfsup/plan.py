"""Planning a zero-data through-plane super-resolution: which axis is thick, how thick, onto
which grid.

The thick axis is the one whose spacing exceeds the other two by at least
:data:`MIN_RATIO`; the other two must agree within that ratio (they form the sharp plane that
the network learns from). Slice thickness is kept apart from spacing: it comes from the
argument, else from ``meta.slice_thickness`` (which describes Z), else it is assumed equal to
the spacing (recorded as ``thickness_assumed``). Thickness below the spacing is a gap.

Example:
    >>> import numpy as np
    >>> from medsr.image import Image

log = logging.getLogger(__name__)
    >>> img = Image(np.zeros((1, 8, 30, 9), np.float32), spacing=(0.5, 4.0, 0.5))
    >>> p = plan_enhance(img)
    >>> p.thick_axis, p.output_grid.shape, round(p.factor, 3)
    (1, (8, 240, 9), 8.0)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from medsr.acquisition.profile import SliceProfile
from medsr.errors import ConfigError, InvalidImageError
from medsr.geometry import Grid, upsample_grid
from medsr.image import Image

log = logging.getLogger(__name__)

#: Smallest thick/in-plane spacing ratio worth a through-plane super-resolution.
MIN_RATIO = 1.3
AXES = "XYZ"


@dataclass(frozen=True)
class EnhancePlan:
    """What :func:`medsr.selfsup.enhance` will do (all lengths in mm).

    Attributes:
        thick_axis: array axis (0, 1, 2 = X, Y, Z) acquired with thick slices.
        inplane_axes: the two sharp axes, in array order.
        spacing_in: input spacing (X, Y, Z).
        thickness_mm: slice thickness along the thick axis; ``thickness_assumed`` if it was
            taken equal to the spacing.
        profile: the slice profile (kind and thickness).
        output_grid: the SR grid (field of view preserved).
        net_spacing_mm: spacing along the thick axis at which the network works (the sharp
            in-plane spacing); ``net_size`` samples there.
        factor: thick-axis spacing / output spacing along it (non-integer allowed).
        train_factors: per in-plane axis, ``(f, t)`` = thick spacing and thickness in units of
            that axis's spacing (the degradation simulated on the sharp planes).
        estimate: the profile estimated from the scan (``profile="auto"``), else ``None``; its
            ``decision`` says whether it was used.
        noise: ``{"kind", "sigma", "relative"}`` estimated from the in-plane planes (here with
            ``profile="auto"``, else by the fit, which reuses its training mask).
    """

    thick_axis: int
    inplane_axes: tuple[int, int]
    spacing_in: tuple[float, float, float]
    thickness_mm: float
    thickness_assumed: bool
    profile: SliceProfile
    output_grid: Grid
    net_spacing_mm: float
    net_size: int
    factor: float
    train_factors: dict[int, tuple[float, float]] = field(default_factory=dict)
    estimate: Any = None
    noise: dict[str, Any] = field(default_factory=dict)

    @property
    def gap_mm(self) -> float:
        """Unsampled distance between slices (0 when slices touch or overlap)."""
        return max(0.0, self.spacing_in[self.thick_axis] - self.thickness_mm)

    def to_dict(self) -> dict[str, Any]:
        ax = self.thick_axis
        return {
            "thick_axis": AXES[ax],
            "inplane_axes": [AXES[a] for a in self.inplane_axes],
            "input_spacing_mm": [float(s) for s in self.spacing_in],
            "input_slice_thickness_mm": float(self.thickness_mm),
            "thickness_assumed": bool(self.thickness_assumed),
            "gap_mm": float(self.gap_mm),
            "profile": self.profile.to_dict(),
            "output_shape": list(self.output_grid.shape),
            "output_spacing_mm": [float(s) for s in self.output_grid.spacing],
            "factor": float(self.factor),
            "factors": [
                float(s_in / s_out) for s_in, s_out in zip(self.spacing_in, self.output_grid.spacing, strict=True)
            ],
            "network_spacing_mm": float(self.net_spacing_mm),
            "train_factors": {AXES[a]: {"f": float(f), "t": float(t)} for a, (f, t) in self.train_factors.items()},
            "profile_estimate": self.estimate.to_dict() if self.estimate is not None else None,
            "noise": {k: (round(v, 6) if isinstance(v, float) else v) for k, v in self.noise.items()},
        }


def _check_image(image: Image) -> None:
    path = image.meta.source_path
    if image.channels != 1 or image.meta.rgb:
        raise InvalidImageError(
            path,
            f"enhance needs one channel, got {image.channels}",
            "split multichannel or 4D data and enhance one volume at a time",
        )
    if image.is_2d or min(image.shape) < 2:
        raise InvalidImageError(
            path,
            f"enhance needs a 3D volume, got shape {image.shape}",
            "thick-slice super-resolution needs several slices; use medsr upsample for 2D images",
        )


def _thick_axis(spacing: np.ndarray, path: str | None) -> tuple[int, tuple[int, int]]:
    order = np.argsort(spacing)[::-1]
    thick, rest = int(order[0]), tuple(sorted(int(a) for a in order[1:]))
    ratio = spacing[thick] / spacing[list(rest)].max()
    if ratio < MIN_RATIO:
        raise InvalidImageError(
            path,
            f"the volume is near-isotropic: spacing {spacing.round(4).tolist()} mm "
            f"(thick/in-plane ratio {ratio:.2f} < {MIN_RATIO})",
            "there is no thick axis to restore; use medsr upsample for a plain resampling",
        )
    inplane = spacing[list(rest)]
    if inplane.max() / inplane.min() >= MIN_RATIO:
        raise InvalidImageError(
            path,
            f"two axes are thick: spacing {spacing.round(4).tolist()} mm leaves no sharp plane",
            "enhance needs one thick axis and two sharp ones; resample the second thick axis first",
        )
    return thick, rest  # type: ignore[return-value]


def _profile(profile: str | SliceProfile, thickness: float) -> SliceProfile:
    if isinstance(profile, SliceProfile):
        if profile.kind == "kernel":
            return profile
        return SliceProfile(profile.kind, float(thickness))
    if profile not in ("rect", "gaussian"):
        return SliceProfile.from_spec(str(profile), thickness)
    return SliceProfile(profile, float(thickness))


#: Largest through-plane factor enhance accepts (a 10 mm slice restored to 0.3 mm).
MAX_FACTOR = 32.0


def _target_grid(
    image: Image, thick: int, inplane: tuple[int, int], spacing: ArrayLike | None, factors: ArrayLike | None
) -> Grid:
    grid = image.grid
    if spacing is not None and factors is not None:
        raise ConfigError(None, "give either target spacing or factors, not both", "pass one of them")
    if factors is not None:
        f = float(np.max(np.asarray(factors, dtype=np.float64)))
        if not np.isfinite(f) or f > MAX_FACTOR:
            ratio = float(grid.spacing[thick] / grid.spacing[list(inplane)].min())
            raise ConfigError(
                None,
                f"--factors asks for ×{f:g} along the thick axis; enhance restores at most ×{MAX_FACTOR:g}",
                f"use a factor up to {MAX_FACTOR:g}, e.g. the thick/in-plane spacing ratio {ratio:.2g}",
            )
        out = upsample_grid(grid, factors=factors)
    elif spacing is not None:
        out = upsample_grid(grid, spacing=spacing)
    else:
        target = np.array(grid.spacing, dtype=np.float64)
        target[thick] = grid.spacing[list(inplane)].min()
        out = upsample_grid(grid, spacing=target)
    for a in inplane:
        if out.shape[a] != grid.shape[a]:
            raise ConfigError(
                None,
                f"enhance restores the thick axis {AXES[thick]} only; the target changes "
                f"in-plane axis {AXES[a]} ({grid.shape[a]} → {out.shape[a]} voxels)",
                f"use factor 1 along {AXES[a]} and run medsr upsample afterwards",
            )
    if out.shape[thick] < grid.shape[thick]:
        raise ConfigError(
            None,
            f"the target has fewer slices ({out.shape[thick]}) than the input ({grid.shape[thick]})",
            "give a factor of at least 1 along the thick axis",
        )
    return out


def _check_memory(image: Image, out: Grid, net_size: int) -> None:
    """The output and its uncertainty (float32, in RAM), the training copy, a few slabs."""
    from medsr.budget import check_fits

    n_out = int(np.prod(out.shape))
    n_in = int(np.prod(image.shape))
    peak = 4 * (2 * n_out + 2 * n_in) + 4 * 8 * net_size * max(image.shape) * 64 + (256 << 20)
    check_fits(
        peak,
        f"enhancing onto the {'×'.join(map(str, out.shape))} grid",
        image.meta.source_path,
        "choose a smaller --factors or a coarser --spacing, or crop the scan",
    )


def plan_enhance(
    image: Image,
    spacing: ArrayLike | None = None,
    factors: ArrayLike | None = None,
    slice_thickness_mm: float | None = None,
    profile: str | SliceProfile = "auto",
) -> EnhancePlan:
    """Find the thick axis, the slice thickness and the output grid for :func:`enhance`.

    Args:
        image: a one-channel 3D volume.
        spacing: target spacing (mm, X Y Z); default: isotropic at the finer in-plane spacing.
        factors: per-axis upsampling factors instead of ``spacing`` (1 on the in-plane axes).
        slice_thickness_mm: thickness of the acquired slices; default ``meta.slice_thickness``
            when the thick axis is Z, else the spacing (assumed).
        profile: ``"auto"`` (the default: estimated from the scan by
            :func:`medsr.acquisition.estimate.estimate_profile` and used where it finds an overlap,
            else rect at the nominal thickness; a given ``slice_thickness_mm`` fixes the FWHM),
            ``"rect"``, ``"gaussian"``, a kernel file path or a :class:`SliceProfile`.

    Raises:
        InvalidImageError: 2D, multichannel, near-isotropic or doubly-thick input.
        ConfigError: a target that changes in-plane axes or removes slices.
    """
    _check_image(image)
    sp = np.asarray(image.spacing, dtype=np.float64)
    thick, inplane = _thick_axis(sp, image.meta.source_path)
    assumed = False
    if slice_thickness_mm is not None:
        thickness = float(slice_thickness_mm)
    elif thick == 2 and image.meta.slice_thickness:
        thickness = float(image.meta.slice_thickness)
    else:
        thickness, assumed = float(sp[thick]), True
    estimate, noise = None, {}
    if isinstance(profile, str) and profile == "auto":
        from medsr.selfsup.profile_choice import choose_profile

        estimate = choose_profile(image, slice_thickness_mm, None if assumed else thickness, thickness)
        noise = dict(estimate.noise)
        if estimate.decision in ("used", "narrowed"):
            profile, thickness, assumed = estimate.used_profile, float(estimate.used_fwhm_mm), False
        else:
            profile = "rect"
    if isinstance(profile, SliceProfile) and profile.kind == "kernel":
        thickness = float(profile.thickness_mm)
    if not np.isfinite(thickness) or thickness < 0:
        raise ConfigError(None, f"slice thickness {thickness} mm is not valid", "give a thickness ≥ 0 mm")
    out = _target_grid(image, thick, inplane, spacing, factors)
    net_sp = float(sp[list(inplane)].min())
    n_thick = image.shape[thick]
    net_size = max(n_thick, int(round(n_thick * sp[thick] / net_sp)))
    _check_memory(image, out, net_size)
    train = {a: (float(sp[thick] / sp[a]), float(thickness / sp[a])) for a in inplane}
    return EnhancePlan(
        thick_axis=thick,
        inplane_axes=inplane,
        spacing_in=(float(sp[0]), float(sp[1]), float(sp[2])),
        thickness_mm=thickness,
        thickness_assumed=assumed,
        profile=_profile(profile, thickness),
        output_grid=out,
        net_spacing_mm=float(n_thick * sp[thick] / net_size),
        net_size=net_size,
        factor=float(sp[thick] / out.spacing[thick]),
        train_factors=train,
        estimate=estimate,
        noise=noise,
    )
