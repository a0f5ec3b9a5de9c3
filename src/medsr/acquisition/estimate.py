"""Estimate the through-plane slice profile and the noise of a thick-slice scan from the scan itself.

Nobody knows how a scanner sliced: a 2D MR slice profile is the Fourier transform of the RF
pulse (a soft-shouldered plateau with side lobes), a helical CT's section sensitivity profile is
bell-shaped, and a header gives at best a nominal thickness. The scan knows, though: its sharp
in-plane axes show what the anatomy looks like at fine resolution, and (anatomy being roughly
isotropic at that scale, the assumption of SMORE and ESPRESO) the thick axis should look like an
in-plane axis acquired with the unknown profile.

So medsr matches spectra. In-plane lines are degraded with each candidate profile exactly as the
acquisition model does it (:class:`~medsr.acquisition.profile.SliceProfile`, sampled at the thick
spacing, so aliasing is modelled too), the measured noise that this averaging removed is put
back, and their power spectrum is compared with the thick axis's (log spectra, a free gain for
the anatomy's anisotropy at the largest scales). The candidate family covers the shapes real
scanners have: rect, Gaussian, trapezoid and a windowed-sinc RF profile (Hann-windowed sinc pulse,
time-bandwidth 4), at FWHM from 0.4 to 2.4 times the slice spacing; the best width is refined
between grid points. A DICOM ``SliceThickness`` enters as a weak prior, not as the truth.
ESPRESO (Han et al., IPMI 2021) matches patch distributions with a learned discriminator; the
spectrum captures the same statistics here in about a second on a CPU.

The candidate shapes live in :mod:`medsr.acquisition.shapes`, the noise estimate in
:mod:`medsr.acquisition.noise_level`.

Example:
    >>> import numpy as np
    >>> from medsr.image import Image
    >>> from medsr.acquisition.profile import SliceProfile
    >>> rng = np.random.default_rng(0)
    >>> hr = rng.normal(size=(64, 64, 160)).astype(np.float32)
    >>> from scipy import ndimage
    >>> hr = ndimage.gaussian_filter(hr, 1.0)                        # isotropic texture, 1 mm
    >>> W = SliceProfile("gaussian", 5.0).matrix(160, spacing_hr=1.0, spacing_lr=4.0)
    >>> lr = Image(np.einsum("zk,xyk->xyz", W, hr)[None].astype(np.float32), spacing=(1, 1, 4))
    >>> est = estimate_profile(lr)
    >>> est.shape, round(est.fwhm_mm)
    ('gaussian', 5)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medsr.acquisition.profile import SliceProfile
from medsr.acquisition.shapes import SHAPES, shape_kernel, shape_profile
from medsr.image import Image

log = logging.getLogger(__name__)

_SEGMENT = 32  # samples per spectral segment along the thick axis
_MAX_LINES = 2500
#: weight (dB) of (log(FWHM / nominal))² against the spectral misfit: on real anatomy the spectra of
#: two directions differ by more than a 10 % width change does (see docs/enhance.md), so the width
#: leaves the nominal thickness (the header's, else the spacing) only on strong evidence
_PRIOR_WEIGHT = 10.0
#: the profile shape each modality's scanners make (MR: the RF pulse's; CT: a bell-shaped SSP)
PREFERRED = {"MR": "mr-sinc", "CT": "gaussian"}
#: misfits (dB) closer than this to the best are a tie, broken by :data:`PREFERRED`
TIE_DB = 0.03


# -- spectra -------------------------------------------------------------------------------------
def _psd(lines: np.ndarray, seg: int) -> np.ndarray:
    """Mean periodogram of Hann-windowed, mean-removed segments of ``lines`` (K, n) → (seg//2,)."""
    n = lines.shape[1]
    starts = range(0, n - seg + 1, max(1, seg // 2))
    win = np.hanning(seg + 2)[1:-1]
    acc = np.zeros(seg // 2 + 1)
    count = 0
    for s in starts:
        x = lines[:, s : s + seg]
        x = x - x.mean(axis=1, keepdims=True)
        acc += (np.abs(np.fft.rfft(x * win, axis=1)) ** 2).mean(axis=0)
        count += 1
    return acc[1 : seg // 2 + 1] / max(count, 1)


@dataclass
class _Axis:
    """One sharp in-plane axis: its own lines, and thick-axis lines with their neighbours along it."""

    lines: np.ndarray  # (K, n) lines along this axis
    bundles: np.ndarray  # (K, 2R+1, n_z) thick-axis lines at offsets -R..R along this axis
    spacing: float  # mm


@dataclass
class _Data:
    """Lines of one scan, normalised (see :func:`_lines`)."""

    axes: list[_Axis]
    spacing_lr: float
    sigma: float  # noise sd in the same units
    seg: int


_REACH_MM = 1.5 * 2.4  # bundle half-width over the spacing: 1.5 × the widest candidate FWHM


def _lines(image: Image, thick: int, inplane: tuple[int, int], sigma: float, seed: int, mask: np.ndarray) -> _Data:
    """Sample lines along each in-plane axis, and bundles of neighbouring thick-axis lines."""
    vol = np.asarray(image.data[0], dtype=np.float32)
    lo, hi = np.percentile(vol[mask] if mask.any() else vol, [1, 99])
    scale = max(hi - lo, 1e-12)
    vol = (vol - lo) / scale
    rng = np.random.default_rng(seed)
    sp = image.spacing
    s = float(sp[thick])

    def pick(candidates: np.ndarray, weights: np.ndarray) -> np.ndarray:
        rows = np.flatnonzero(weights >= 0.5) if (weights >= 0.5).sum() >= 64 else np.arange(candidates.size)
        return np.sort(rng.choice(candidates[rows], size=min(_MAX_LINES, rows.size), replace=False))

    axes = []
    for a in inplane:
        moved = np.moveaxis(vol, a, -1).reshape(-1, vol.shape[a])
        own = np.moveaxis(mask, a, -1).reshape(-1, vol.shape[a]).mean(axis=1)
        lines = moved[pick(np.arange(moved.shape[0]), own)]
        radius = int(np.ceil(_REACH_MM * s / float(sp[a])))
        other = [b for b in inplane if b != a][0]
        zl = np.moveaxis(vol, (a, other, thick), (0, 1, 2))  # (n_a, n_other, n_z)
        zm = np.moveaxis(mask, (a, other, thick), (0, 1, 2)).mean(axis=2)
        n_a = zl.shape[0]
        if n_a <= 2 * radius + 1:
            continue
        centres = np.stack(np.meshgrid(np.arange(radius, n_a - radius), np.arange(zl.shape[1]), indexing="ij"), -1)
        centres = centres.reshape(-1, 2)
        chosen = centres[pick(np.arange(len(centres)), zm[centres[:, 0], centres[:, 1]])]
        offs = np.arange(-radius, radius + 1)
        bundles = zl[chosen[:, 0:1] + offs[None, :], chosen[:, 1:2]]  # (K, 2R+1, n_z)
        axes.append(_Axis(lines, np.ascontiguousarray(bundles), float(sp[a])))
    n_lr = [int(ax.lines.shape[1] * ax.spacing / s) for ax in axes] or [0]
    seg = int(min(_SEGMENT, image.shape[thick], *n_lr))
    seg -= seg % 2
    if axes:
        sharp = [_sharpness(ax.lines) for ax in axes]
        # the sharpest in-plane axis is the reference (equal on real scans; on a scan whose second
        # "sharp" axis was itself acquired thick, only the truly sharp one tells the anatomy)
        axes = [axes[int(np.argmax(sharp))]]
    return _Data(axes, s, sigma / scale, seg)


def _sharpness(lines: np.ndarray) -> float:
    """Share of the power in the upper half of the band (high frequencies), noise included."""
    p = _psd(lines, min(64, lines.shape[1] - lines.shape[1] % 2))
    return float(p[len(p) // 2 :].sum() / max(p.sum(), 1e-20))


def _misfit(data: _Data, profile: SliceProfile) -> float:
    """Log-spectral distance (dB RMS, free gain) between two views of one double averaging.

    A thick-slice scan's in-plane lines are themselves averaged over the slice, so they are not
    the anatomy's true lines. Under isotropy the two spectra compared here are the same when the
    candidate is the true profile: (a) in-plane lines degraded with the candidate along their
    axis at the thick spacing (averaged by the true profile across, the candidate along), and
    (b) thick-axis lines averaged along that in-plane axis with the candidate (the true profile
    along, the candidate across).
    """
    if not data.axes or data.seg < 4:
        return float("inf")
    sims, refs = [], []
    for ax in data.axes:
        n = ax.lines.shape[1]
        W = profile.matrix(n, spacing_hr=ax.spacing, spacing_lr=data.spacing_lr).astype(np.float32)
        if W.shape[0] < data.seg:
            continue
        sims.append(_psd(ax.lines @ W.T, data.seg))
        r = ax.bundles.shape[1] // 2
        k = profile._row(float(r), 2 * r + 1, ax.spacing)
        k = (k / max(k.sum(), 1e-12)).astype(np.float32)
        refs.append(_psd(np.einsum("j,kjn->kn", k, ax.bundles), data.seg))
    if not sims:
        return float("inf")
    sim, ref = np.mean(sims, axis=0), np.mean(refs, axis=0)
    d = 10 * (np.log10(np.maximum(ref, 1e-20)) - np.log10(np.maximum(sim, 1e-20)))
    w = np.arange(1, d.size + 1, dtype=np.float64)  # the band edge tells profiles apart: weigh it up
    d -= np.average(d, weights=w)
    return float(np.sqrt(np.average(d**2, weights=w)))


@dataclass
class ProfileEstimate:
    """A slice profile estimated from the scan, ready for enhance and for the sidecar.

    Attributes:
        shape: ``rect``, ``gaussian``, ``trapezoid`` or ``mr-sinc``.
        fwhm_mm: full width at half maximum (mm).
        spacing_mm: the slice spacing; ``fwhm_mm / spacing_mm`` above 1 is an overlap, below 1 a gap.
        confidence: 0 … 1 (1: the best shape fits the spectrum far better than the others and
            the residual is small).
        misfit_db: residual log-spectral distance of the best candidate (dB RMS).
        nominal_mm: the header's SliceThickness, if any (used as a weak prior).
        candidates: best misfit per shape (dB).
        decision: what enhance made of it (:mod:`medsr.selfsup.profile_choice`): ``used``,
            ``narrowed`` (used at ``used_fwhm_mm``), ``rect`` (rect at the nominal thickness
            kept) or ``unsure`` (too low a confidence); ``None`` outside enhance.
        used_fwhm_mm: the FWHM enhance assumed with this shape (``used``/``narrowed``).
        noise: the scan's noise (:func:`~medsr.acquisition.noise_level.estimate_noise`), measured
            on the way (kept out of :meth:`to_dict`: the sidecar records it on its own).
    """

    shape: str
    fwhm_mm: float
    spacing_mm: float
    confidence: float
    misfit_db: float
    nominal_mm: float | None = None
    candidates: dict[str, float] = field(default_factory=dict)
    decision: str | None = None
    used_fwhm_mm: float | None = None
    noise: dict[str, Any] = field(default_factory=dict)

    @property
    def profile(self) -> SliceProfile:
        """The estimated :class:`SliceProfile`."""
        return shape_profile(self.shape, self.fwhm_mm)

    @property
    def used_profile(self) -> SliceProfile:
        """The :class:`SliceProfile` enhance assumed (its shape at ``used_fwhm_mm``)."""
        return shape_profile(self.shape, self.used_fwhm_mm or self.fwhm_mm)

    def kernel(self) -> tuple[np.ndarray, np.ndarray]:
        """``(offsets_mm, weights)`` samples, peak 1."""
        return shape_kernel(self.shape, self.fwhm_mm, n=81)

    def to_dict(self) -> dict[str, Any]:
        off, w = self.kernel()
        return {
            "shape": self.shape,
            "fwhm_mm": round(self.fwhm_mm, 4),
            "spacing_mm": round(self.spacing_mm, 4),
            "gap_mm": round(max(0.0, self.spacing_mm - self.fwhm_mm), 4),
            "overlap_mm": round(max(0.0, self.fwhm_mm - self.spacing_mm), 4),
            "confidence": round(self.confidence, 3),
            "misfit_db": round(self.misfit_db, 4),
            "nominal_thickness_mm": self.nominal_mm,
            "candidates_db": {k: round(v, 4) for k, v in self.candidates.items()},
            "decision": self.decision,
            "used_fwhm_mm": None if self.used_fwhm_mm is None else round(self.used_fwhm_mm, 4),
            "kernel_mm": [[round(float(o), 5) for o in off], [round(float(v), 6) for v in w]],
        }

    def write_kernel(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the kernel as the two-column file ``--profile FILE`` reads (``offset_mm weight``)."""
        from medsr.io.atomic import atomic_write

        off, w = self.kernel()
        head = f"# medsr slice profile: {self.shape}, FWHM {self.fwhm_mm:.4g} mm, spacing {self.spacing_mm:.4g} mm\n"
        body = "".join(f"{o:.6f} {v:.6f}\n" for o, v in zip(off, w, strict=True))
        return atomic_write(path, head + body, overwrite=overwrite)


def _axes(image: Image) -> tuple[int, tuple[int, int]]:
    sp = np.asarray(image.spacing, dtype=np.float64)
    thick = int(np.argmax(sp))
    inplane = tuple(a for a in range(3) if a != thick)
    return thick, (inplane[0], inplane[1])


def estimate_profile(
    image: Image, *, nominal_mm: float | None = None, fixed_fwhm_mm: float | None = None, seed: int = 0
) -> ProfileEstimate:
    """Estimate the slice profile of ``image``'s thick axis (see the module docstring).

    Args:
        image: a one-channel thick-slice volume ``(1, X, Y, Z)`` (any axis may be thick).
        nominal_mm: the nominal thickness (default ``meta.slice_thickness`` for a Z-thick DICOM);
            a weak prior.
        fixed_fwhm_mm: estimate the shape only, at this FWHM (a thickness the user knows).
        seed: which lines are sampled.
    """
    thick, inplane = _axes(image)
    if nominal_mm is None and thick == 2:
        nominal_mm = image.meta.slice_thickness
    if not nominal_mm:
        nominal_mm = float(image.spacing[thick])  # contiguous slices: what most scanners do
    from medsr.acquisition.noise_level import estimate_noise
    from medsr.mask import training_mask

    mask = training_mask(image)  # once, for the noise and for the lines
    noise = estimate_noise(image, mask=mask)
    sigma = noise["sigma"]
    data = _lines(image, thick, inplane, sigma, seed, mask)
    target = (
        _psd(np.concatenate([ax.bundles[:, ax.bundles.shape[1] // 2] for ax in data.axes]), data.seg)
        if data.axes
        else np.zeros(1)
    )
    s = data.spacing_lr
    widths = np.array([fixed_fwhm_mm]) if fixed_fwhm_mm else s * np.geomspace(0.4, 2.4, 31)
    best: dict[str, tuple[float, float]] = {}
    for shape in SHAPES:
        scores = [_score(data, target, shape, w, nominal_mm) for w in widths]
        k = int(np.argmin(scores))
        if fixed_fwhm_mm:
            best[shape] = (float(widths[0]), float(scores[0]))
        else:
            best[shape] = _refine(data, target, shape, widths, k, scores, nominal_mm)
    order = sorted(best, key=lambda n: best[n][1])
    # shapes of equal second moment look alike below the slice Nyquist frequency; within
    # TIE_DB of the best, the shape this modality's scanners make is taken
    preferred = PREFERRED.get(image.meta.modality, "rect")
    if best[preferred][1] <= best[order[0]][1] + TIE_DB:
        order.remove(preferred)
        order.insert(0, preferred)
    shape, (fwhm, score) = order[0], best[order[0]]
    misfit = _misfit(data, shape_profile(shape, fwhm))
    margin = best[order[1]][1] - score
    win = np.hanning(data.seg + 2)[1:-1]
    floor = data.sigma**2 * float(np.sum(win**2))
    structure = float(np.median(target) / max(floor, 1e-30))  # thick-axis power over its noise floor
    confidence = float(
        np.clip(1.0 - misfit / 3.0, 0.0, 1.0)
        * np.clip(0.5 + margin / 0.2, 0.0, 1.0)
        * np.clip((structure - 1.0) / 2.0, 0.0, 1.0)
    )
    est = ProfileEstimate(shape, float(fwhm), s, confidence, misfit, nominal_mm, {n: best[n][1] for n in SHAPES})
    est.noise = noise
    log.info("slice profile: %s, FWHM %.2f mm (spacing %.2f mm), confidence %.2f", shape, fwhm, s, confidence)
    return est


def _score(data: _Data, target: np.ndarray, shape: str, fwhm: float, nominal: float | None) -> float:
    score = _misfit(data, shape_profile(shape, fwhm))
    if nominal:
        score += _PRIOR_WEIGHT * float(np.log(fwhm / nominal)) ** 2
    return score


def _refine(
    data: _Data, target: np.ndarray, shape: str, widths: np.ndarray, k: int, scores: list[float], nominal: float | None
) -> tuple[float, float]:
    """Golden-section search between the grid neighbours of the best width."""
    lo, hi = widths[max(0, k - 1)], widths[min(len(widths) - 1, k + 1)]
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = _score(data, target, shape, a, nominal), _score(data, target, shape, b, nominal)
    for _ in range(8):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = _score(data, target, shape, a, nominal)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = _score(data, target, shape, b, nominal)
    w, f = (a, fa) if fa < fb else (b, fb)
    if scores[k] < f:
        return float(widths[k]), float(scores[k])
    return float(w), float(f)
