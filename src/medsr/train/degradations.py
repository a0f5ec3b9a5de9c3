"""Random acquisition models for training: each patch gets its own slice profile, thickness,
blur, k-space window and noise, drawn from the ranges of a
:class:`~medsr.train.config.DegradationConfig`.

Training on one fixed degradation makes a network that fails on any other (the "blind"
super-resolution problem; Gu et al., "Blind super-resolution with iterative kernel
correction", CVPR 2019; Zhang et al., BSRGAN, ICCV 2021). Drawing the slice profile (rect or
Gaussian) and its width around the nominal ``factor`` (e.g. 0.7–1.3 ×) keeps the model useful
on scanners whose true profile is not the one assumed.

All physics is done by :func:`medsr.acquisition.degrade`; this module only draws its arguments.
Patches arrive normalised (window → 0…1), and degradation is linear with rows summing to one,
so it commutes with the normaliser; noise ``sigma`` is then a fraction of the intensity window.
The ``ct`` noise model depends on HU and is applied in physical units.

Example:
    >>> import numpy as np
    >>> from medsr.train.config import DegradationConfig
    >>> s = DegradationSampler(DegradationConfig(factors=[2, 2, 1]), (2.0, 2.0, 1.0))
    >>> d = s.draw(np.random.default_rng(0), spacing=(0.5, 0.5, 5.0))
    >>> d["profile"] in ("rect", "gaussian"), d["thickness_mm"][2] is None
    (True, True)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from medsr.image import Image, ImageMeta
from medsr.train.config import DegradationConfig


class DegradationSampler:
    """Draws acquisition models and applies them to normalised HR patches.

    Args:
        cfg: the ranges.
        factors: per-axis factors (X, Y, Z).
    """

    def __init__(self, cfg: DegradationConfig, factors: ArrayLike) -> None:
        self.cfg = cfg
        self.factors = np.asarray(factors, dtype=np.float64)
        w = np.asarray(cfg.profile_weights or [1.0] * len(cfg.profiles), dtype=np.float64)
        self.profile_p = w / w.sum()

    def draw(self, rng: np.random.Generator, spacing: ArrayLike) -> dict[str, Any]:
        """One random acquisition model for an HR image of ``spacing`` (mm, X Y Z)."""
        c = self.cfg
        sp = np.asarray(spacing, dtype=np.float64)
        profile = str(c.profiles[int(rng.choice(len(c.profiles), p=self.profile_p))])
        thick: list[float | None] = []
        for a in range(3):
            if self.factors[a] > 1:
                scale = float(rng.uniform(c.thickness_scale[0], c.thickness_scale[1]))
                thick.append(float(scale * self.factors[a] * sp[a]))
            else:
                thick.append(None)
        blur = None
        if c.blur_probability > 0 and rng.random() < c.blur_probability:
            fwhm = float(rng.uniform(c.blur_fwhm[0], c.blur_fwhm[1]))
            blur = [float(fwhm * sp[a]) if self.factors[a] > 1 else None for a in range(3)]
        kspace = None
        if c.kspace_probability > 0 and rng.random() < c.kspace_probability:
            kspace = {"window": str(c.kspace_windows[int(rng.integers(len(c.kspace_windows)))])}
        noise = None
        if c.noise_probability > 0 and rng.random() < c.noise_probability:
            noise = {"kind": c.noise, "sigma": float(rng.uniform(c.noise_sigma[0], c.noise_sigma[1]))}
        jpeg = None
        if c.jpeg_probability > 0 and rng.random() < c.jpeg_probability:
            jpeg = int(rng.integers(int(c.jpeg_quality[0]), int(c.jpeg_quality[1]) + 1))
        return {
            "jpeg": jpeg,
            "profile": profile,
            "thickness_mm": thick,
            "blur_mm": blur,
            "kspace": kspace,
            "noise": noise,
            "seed": int(rng.integers(2**31 - 1)),
        }

    def apply(self, patch: np.ndarray, spacing: ArrayLike, draw: dict[str, Any], normalizer: Any = None) -> np.ndarray:
        """Degrade a normalised HR ``patch`` ``(C, X, Y, Z)`` with model ``draw``; returns the LR
        array on :func:`medsr.geometry.degrade_grid` of the patch. ``normalizer`` (the patch's
        :class:`~medsr.intensity.Normalizer`) is needed only for ``ct`` noise."""
        from medsr.acquisition import degrade

        img = Image(patch, spacing=spacing, meta=ImageMeta(spatial_dims=3 if patch.shape[3] > 1 else 2))
        noise = draw["noise"]
        physical_noise = noise is not None and noise["kind"] == "ct" and normalizer is not None
        lr = degrade(
            img,
            tuple(self.factors),
            thickness_mm=draw["thickness_mm"],
            profile=draw["profile"],
            blur_mm=draw["blur_mm"],
            kspace=draw["kspace"],
            noise=None if physical_noise or noise is None else noise,
            seed=draw["seed"],
        ).data
        if physical_noise:
            from medsr.acquisition.noise import NoiseModel

            width = float(np.mean(np.asarray(normalizer.hi) - np.asarray(normalizer.lo)))
            c = len(normalizer.lo)
            stacked = lr.reshape(-1, c, *lr.shape[1:])  # patches stacked as channels
            hu = normalizer.inverse(stacked, channel_axis=1)
            noisy = NoiseModel("ct", noise["sigma"] * width).apply(hu, draw["seed"])
            lr = normalizer.forward(noisy, channel_axis=1).reshape(lr.shape)
        if draw.get("jpeg") and lr.shape[3] == 1:
            channels = len(normalizer.lo) if normalizer is not None else 1
            lr = jpeg_roundtrip(lr, int(draw["jpeg"]), channels)
        return np.asarray(lr, dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        """JSON-able summary of the ranges (recorded in the bundle)."""
        c = self.cfg
        return {
            "factors": self.factors.tolist(),
            "profiles": list(c.profiles),
            "profile_probabilities": self.profile_p.round(4).tolist(),
            "thickness_over_lr_spacing": list(c.thickness_scale),
            "blur_fwhm_hr_voxels": list(c.blur_fwhm) if c.blur_probability > 0 else None,
            "blur_probability": c.blur_probability,
            "kspace_windows": list(c.kspace_windows) if c.kspace_probability > 0 else None,
            "kspace_probability": c.kspace_probability,
            "jpeg_quality": list(c.jpeg_quality) if c.jpeg_probability > 0 else None,
            "jpeg_probability": c.jpeg_probability,
            "noise": {
                "kind": c.noise,
                "sigma_fraction_of_window": list(c.noise_sigma),
                "probability": c.noise_probability,
            }
            if c.noise_probability > 0
            else None,
        }


def jpeg_roundtrip(lr: np.ndarray, quality: int, channels: int) -> np.ndarray:
    """2D LR patches ``(n·C, X, Y, 1)`` in the 0…1 working range through 8-bit JPEG at
    ``quality`` (Pillow; grey per channel unless C = 3, which is coded as colour).

    Example:
        >>> x = np.random.default_rng(0).random((3, 16, 16, 1)).astype(np.float32)
        >>> y = jpeg_roundtrip(x, 75, 3)
        >>> y.shape, bool(0.0 < np.abs(y - x).mean() < 0.2)
        ((3, 16, 16, 1), True)
    """
    import io

    from PIL import Image as PILImage

    c = 3 if channels == 3 and lr.shape[0] % 3 == 0 else 1
    stacked = lr[..., 0].reshape(-1, c, *lr.shape[1:3])
    out = np.empty_like(stacked)
    for i, patch in enumerate(stacked):
        u8 = (np.clip(patch, 0.0, 1.0) * 255 + 0.5).astype(np.uint8).transpose(2, 1, 0)  # rows = Y
        buf = io.BytesIO()
        PILImage.fromarray(u8[..., 0] if c == 1 else u8).save(buf, format="JPEG", quality=int(quality))
        dec = np.asarray(PILImage.open(io.BytesIO(buf.getvalue())), dtype=np.float32) / 255.0
        out[i] = (dec[..., None] if c == 1 else dec).transpose(2, 1, 0)
    return out.reshape(lr.shape[:3])[..., None]


def canonical_lr(patch: np.ndarray, spacing: ArrayLike, factors: ArrayLike) -> np.ndarray:
    """The reference degradation used for validation: rect profile, thickness = LR spacing (the
    mean of ``f`` consecutive voxels along each degraded axis), no blur, no noise — the
    convention of ``../shared/referee``."""
    from medsr.acquisition import degrade

    img = Image(patch, spacing=spacing, meta=ImageMeta(spatial_dims=3 if patch.shape[3] > 1 else 2))
    return degrade(img, np.asarray(factors, dtype=np.float64), profile="rect").data.astype(np.float32)
