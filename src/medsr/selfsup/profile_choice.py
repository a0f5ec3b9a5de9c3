"""Which slice profile ``enhance`` assumes by default (``--profile auto``).

The profile is estimated from the scan (:func:`medsr.acquisition.estimate.estimate_profile`)
and then judged, because a wrong profile is not symmetric in cost. Measured on realistic cases
made from the real CT and MRI (``benchmarks/realistic.py``, docs/enhance.md):

* assuming too much blur (a Gaussian for rect slices) cost 1.4–3.8 dB, assuming too little
  (rect for bell-shaped slices) about 1 dB;
* on overlapping slices the estimate gained +2.5 dB over rect at the spacing;
* on real anatomy the estimator tells the width of contiguous slices to within 25 % (5 % on
  MR) but not their shape (a chest CT reads Gaussian whatever the truth).

So the estimate is used only where it finds an overlap (FWHM at least :data:`OVERLAP_MIN` × the
nominal thickness), and never with a profile whose data-consistency projection would amplify
the scan's noise more than :data:`MAX_NOISE_GAIN` times: a wide profile must be inverted, and
an exact projection then turns the input's noise into large fine-scale stripes (measured −4.5 dB
on MR with 3 % noise and slices 1.75× their spacing, even when told the true profile). Such an
estimate is narrowed to the widest FWHM within that gain. Elsewhere rect at the nominal
thickness (the header's, else the spacing) is kept, and the estimate is still recorded.

Example:
    >>> round(dc_noise_gain("rect", 4.0, 4.0, 1.0), 2), dc_noise_gain("gaussian", 7.0, 4.0, 1.0) > 2
    (1.0, True)
"""

from __future__ import annotations

import logging
from typing import Any

from medsr.acquisition.consistency import consistency_projector, noise_gain
from medsr.acquisition.shapes import shape_profile
from medsr.image import Image

log = logging.getLogger(__name__)

#: Below this confidence the estimated profile is not used (rect at the nominal thickness is).
MIN_CONFIDENCE = 0.2
#: The estimate is used only for slices this much wider (FWHM) than the nominal thickness: above
#: the largest width bias measured on contiguous slices of real anatomy (+25 % on a chest CT,
#: 60 estimates over five scans; docs/enhance.md). At 1.2 a held-out CT was taken for an
#: overlap and lost 2 dB against rect.
OVERLAP_MIN = 1.3
#: The data-consistency projection may at most multiply the input's noise sd by this.
MAX_NOISE_GAIN = 2.0


def dc_noise_gain(shape: str, fwhm_mm: float, spacing_mm: float, fine_mm: float) -> float:
    """Noise gain (:func:`~medsr.acquisition.consistency.noise_gain`) of the projection for slices
    of ``shape`` and ``fwhm_mm`` every ``spacing_mm``, restored onto a ``fine_mm`` grid."""
    n = max(16, int(round(16 * spacing_mm / fine_mm)))
    W = shape_profile(shape, fwhm_mm).matrix(n, spacing_hr=fine_mm, spacing_lr=spacing_mm)
    return noise_gain(consistency_projector(W), margin=n // 4)


def _widest_within_gain(shape: str, lo: float, hi: float, spacing: float, fine: float) -> float:
    """Largest FWHM in ``[lo, hi]`` whose noise gain is at most :data:`MAX_NOISE_GAIN` (bisection)."""
    for _ in range(20):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if dc_noise_gain(shape, mid, spacing, fine) <= MAX_NOISE_GAIN else (lo, mid)
    return lo


def choose_profile(image: Image, fixed: float | None, nominal: float | None, thickness: float) -> Any:
    """Estimate the profile of ``image``'s thick axis and decide whether enhance uses it.

    Args:
        image: the thick-slice volume ``(1, X, Y, Z)``.
        fixed: a slice thickness the user gave (mm): only the shape is estimated.
        nominal: the header's thickness (mm), a weak prior for the width; ``None``: the spacing.
        thickness: the thickness rect would assume (mm): the header's, the user's or the spacing.

    Returns:
        The :class:`~medsr.acquisition.estimate.ProfileEstimate` with ``decision`` set to
        ``used``, ``narrowed`` (used at ``used_fwhm_mm``, below the estimate, for the noise gain),
        ``rect`` (no overlap found: rect at ``thickness``) or ``unsure`` (low confidence).
    """
    from medsr.acquisition.estimate import estimate_profile

    est = estimate_profile(image, nominal_mm=nominal, fixed_fwhm_mm=fixed)
    sp = sorted(float(s) for s in image.spacing)
    spacing, fine = sp[2], sp[0]
    if est.confidence < MIN_CONFIDENCE:
        log.info(
            "%s: the slice profile could not be estimated (confidence %.2f; no sharp in-plane structure?); "
            "assuming a rect profile. Pass --profile and --slice-thickness if you know them",
            image.meta.source_path or "the scan",
            est.confidence,
        )
        est.decision = "unsure"
    elif est.fwhm_mm < OVERLAP_MIN * thickness:
        est.decision = "rect"
    elif dc_noise_gain(est.shape, est.fwhm_mm, spacing, fine) <= MAX_NOISE_GAIN:
        est.decision, est.used_fwhm_mm = "used", est.fwhm_mm
    else:
        used = _widest_within_gain(est.shape, min(thickness, est.fwhm_mm), est.fwhm_mm, spacing, fine)
        est.decision, est.used_fwhm_mm = "narrowed", used
    if est.decision in ("rect", "unsure"):
        log.info("slice profile: rect at the nominal %.2f mm (estimate recorded, not used)", thickness)
    else:
        log.info("slice profile: %s at FWHM %.2f mm (%s)", est.shape, est.used_fwhm_mm, est.decision)
    return est
