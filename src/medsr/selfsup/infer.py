"""Applying the fitted plane network along the thick axis, in two orientations, in two passes.

Layout: the LR volume is ``(N, A, B)`` with N the thick axis and A, B the sharp axes. The two
orientations are the planes that contain the thick axis: ⊥A (each ``(N, B)``) and ⊥B (each
``(N, A)``). Each plane is restored independently, so neither pass needs context from its
neighbours: the first pass runs slabs of rows of A and writes its estimate (and the spread of
the flips) into the output; the second runs slabs of columns of B, fuses its estimate with the
first (mean), projects each column onto data consistency (along N) and writes the calibrated
expected error (:mod:`medsr.calibration`). Only planes wider than a memory budget are tiled,
along their sharp axis, through the shared engine (:func:`medsr.engine.runner.run_tiled`) with
a receptive-field halo, so any slab or tile size gives the same result. SMORE (Zhao et al., IEEE TMI 2021) fuses
orientations in the Fourier domain; a plain mean is used here (see ``benchmarks/enhance.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medsr.acquisition.consistency import Consistency, along

#: Average the network over the flips it was trained with at inference (×4 inference time;
#: +0.12 dB on the brain MR proxy of benchmarks/enhance_proxy.py at equal training steps).
DEFAULT_TTA = True


@dataclass
class InferSpec:
    """Operators and settings of one volume's inference (normalised units).

    Attributes:
        U: ``(n_net, n_lr)`` cubic B-spline onto the network grid along N.
        R: ``(n_out, n_net)`` resampling onto the output grid, or ``None`` when they agree.
        W, P: ``(n_lr, n_out)`` acquisition and ``(n_out, n_lr)`` consistency projector.
        halo: pixels of context on each side of a plane tile (≥ the receptive-field radius).
        precision: ``bfloat16`` or ``float32``; device: torch device string.
        plane_pixels: pixels per network call (bounds memory).
        tile: width of the plane tiles along their sharp axis (``None``: whole planes unless
            one plane exceeds ``plane_pixels``); multiple: tile widths are multiples of it (the
            network's pixel-unshuffle factor, so tiles keep the same phase).
        tta: also run the planes flipped along either axis and both, and average (×4 cost);
            their standard deviation (``spread``) is a feature of the expected-error map.
        fusion: ``"mean"`` of both orientations (default), ``"dc"`` (per column, weighted by
            each orientation's data-consistency residual; measured +0.05 dB on the CT
            cross-check, not the default), or one alone (``"A"``, ``"B"``; for ablations).
        project: apply the data-consistency projection (off only for ablations).
        calibration: the :class:`medsr.calibration.Calibration` that turns the features into
            the expected-|error| map, or ``None`` (then the map is the members' spread).
        normalizer: the intensity normalisation (:class:`medsr.intensity.Normalizer`; network
            units = its forward), or ``None`` for none.
        stats: running sums over block cores: ``r0``/``r1`` = ‖Wx−y‖² before/after the
            projection, ``syy`` = Σy² (input units), ``pixels`` = network output pixels.
    """

    U: np.ndarray
    R: np.ndarray | None
    W: np.ndarray
    P: np.ndarray
    halo: int
    normalizer: Any = None
    precision: str = "float32"
    device: str = "cpu"
    plane_pixels: int = 1 << 19
    tile: int | None = None
    multiple: int = 1
    tta: bool = False
    fusion: str = "mean"
    project: bool = True
    calibration: Any = None
    stats: dict[str, float] = field(default_factory=lambda: dict.fromkeys(("r0", "r1", "syy", "pixels"), 0.0))

    def __post_init__(self) -> None:
        for name in ("U", "R", "W", "P"):
            m = getattr(self, name)
            if m is not None:
                setattr(self, name, np.ascontiguousarray(m, dtype=np.float32))
        self.consistency = Consistency(W=self.W, P=self.P)
        self.bspline = self.U if self.R is None else (self.R @ self.U).astype(np.float32)


def _net_batches(net: Any, planes: np.ndarray, spec: InferSpec) -> np.ndarray:
    """Network on ``(P, H, W)`` planes, a few planes per call → ``(2 P, H, W)`` float32: the
    mean over the flips (the first ``P``) and their standard deviation (zero without flips)."""
    import torch

    n = planes.shape[0]
    out = np.zeros((2 * n,) + planes.shape[1:], dtype=np.float32)
    per = max(1, spec.plane_pixels // max(1, planes.shape[1] * planes.shape[2]))
    bf16 = spec.precision == "bfloat16"
    with (
        torch.inference_mode(),
        torch.autocast(device_type=spec.device.split(":")[0], dtype=torch.bfloat16, enabled=bf16),
    ):
        for s in range(0, n, per):
            e = min(n, s + per)
            x = torch.from_numpy(np.ascontiguousarray(planes[s:e]))[:, None].to(spec.device)
            if bf16:
                x = x.contiguous(memory_format=torch.channels_last)
            y = net(x).float()
            if spec.tta:  # the flips the network was trained with (the slice profile is symmetric)
                y2 = y * y
                for dims in ((3,), (2,), (2, 3)):
                    yf = torch.flip(net(torch.flip(x, dims)).float(), dims)
                    y += yf
                    y2 += yf * yf
                y *= 0.25
                out[n + s : n + e] = torch.sqrt(torch.clamp(y2 * 0.25 - y * y, min=0.0))[:, 0].cpu().numpy()
            out[s:e] = y[:, 0].cpu().numpy()
    spec.stats["pixels"] += planes.size * (4 if spec.tta else 1)
    return out


def run_planes(net: Any, planes: np.ndarray, spec: InferSpec) -> tuple[np.ndarray, np.ndarray]:
    """Network on ``(P, H, W)`` planes (H the thick axis) → its estimate and the flips'
    spread, each ``(P, H, W)`` float32.

    The planes go through :func:`medsr.engine.runner.run_tiled` along W with a halo of the
    network's receptive-field radius (reflected at the plane ends), so tiles of
    ``spec.tile`` pixels (default: whole planes, or tiles of about ``spec.plane_pixels`` when a
    single plane is larger) give the same result as whole planes.
    """
    from medsr.engine.runner import run_tiled

    h, w = planes.shape[1:]
    tile = spec.tile
    if tile is None and h * w > spec.plane_pixels:
        tile = max(4 * spec.halo, spec.plane_pixels // max(1, h))
    if tile is not None:
        tile = max(spec.multiple, int(tile) - int(tile) % spec.multiple)
        tile = None if tile >= w else tile
    both = run_tiled(
        lambda b: _net_batches(net, b, spec),
        np.asarray(planes, np.float32),
        (1, 1),
        tile=(None, tile),
        halo=(0, spec.halo),
        blend="none",
    )
    return both[: planes.shape[0]], both[planes.shape[0] :]


def consistent(est: np.ndarray, y: np.ndarray, spec: InferSpec) -> None:
    """Project ``est`` (n_out, …) in place onto ``W est = y`` (n_lr, …) with the one projector
    (:class:`medsr.acquisition.consistency.Consistency`); record the errors."""
    dc = spec.consistency
    r0 = dc.residual(est, y)
    if spec.project:
        dc.project(est, y, inplace=True)
    r1 = dc.residual(est, y) if spec.project else r0
    y64 = y.astype(np.float64)
    st = spec.stats
    st["r0"] += float(np.sum(r0.astype(np.float64) ** 2))
    st["r1"] += float(np.sum(r1.astype(np.float64) ** 2))
    st["syy"] += float(np.sum(y64**2))


def _dc_weighted(ya: np.ndarray, yb: np.ndarray, y: np.ndarray, spec: InferSpec) -> np.ndarray:
    """Per-column fusion weighted by each orientation's data-consistency residual (the one
    that better reproduces the acquired slices counts more); columns are independent."""
    ra = np.sum((along(spec.W, ya) - y) ** 2, axis=0)
    rb = np.sum((along(spec.W, yb) - y) ** 2, axis=0)
    wa = (rb + 1e-12) / (ra + rb + 2e-12)
    return wa * ya + (1 - wa) * yb


def chunks(n: int, per: int) -> list[tuple[int, int]]:
    """``[(start, stop), …]`` covering ``range(n)`` in steps of ``per``."""
    return [(s, min(n, s + per)) for s in range(0, n, max(1, per))]


def _to_units(spec: InferSpec, est: np.ndarray, *, offset: bool = True) -> np.ndarray:
    """Network-grid estimate (normalised) → output grid (``R``) in the input's units; with
    ``offset=False`` only the scale is applied (for spreads and errors)."""
    if spec.R is not None:
        est = along(spec.R, est)
    if spec.normalizer is not None:
        if offset:
            spec.normalizer.inverse_(est)
        else:
            est *= np.float32(window(spec))
    return est


def window(spec: InferSpec) -> float:
    """Input units per normalised unit (the normaliser's window; 1 without one)."""
    n = spec.normalizer
    return 1.0 if n is None else float(n.hi[0] - n.lo[0])


def _orientation(net: Any, lr: np.ndarray, spec: InferSpec, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Restore ``lr`` ``(n_lr, a, b)`` (input units) as planes ⊥ its last axis, ``(N, a)`` each
    → estimate and flip spread ``(n_out, a, b)`` in the input's units. Inactive planes
    (``active[j]`` False: no foreground) get the cubic B-spline alone (and zero spread)."""
    x = np.array(lr, dtype=np.float32)
    if spec.normalizer is not None:
        spec.normalizer.forward_(x)
    up = along(spec.U, x)  # (n_net, a, b)
    spread = np.zeros_like(up)
    on = np.flatnonzero(active)
    if len(on):
        planes = up[:, :, on].transpose(2, 0, 1)  # (planes, n_net, a)
        mean, sd = run_planes(net, planes, spec)
        up[:, :, on] = mean.transpose(1, 2, 0)
        spread[:, :, on] = sd.transpose(1, 2, 0)
    return _to_units(spec, up), _to_units(spec, spread, offset=False)


def first_pass(net: Any, lr: np.ndarray, spec: InferSpec, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orientation ⊥A: ``lr`` ``(n_lr, rows, B)`` → its planes ``(N, B)``, one per row, restored
    → estimate and flip spread ``(n_out, rows, B)`` in the input's units."""
    est, spread = _orientation(net, lr.transpose(0, 2, 1), spec, active)
    return est.transpose(0, 2, 1), spread.transpose(0, 2, 1)


def _fuse(ya: np.ndarray, yb: np.ndarray, y: np.ndarray, spec: InferSpec) -> np.ndarray:
    if spec.fusion == "B":
        return yb.copy()
    if spec.fusion == "A":
        return ya.copy()
    if spec.fusion == "dc":
        return _dc_weighted(ya, yb, y, spec)
    return 0.5 * (ya + yb)


def expected_error(spread: np.ndarray, pre: np.ndarray, post: np.ndarray, y: np.ndarray, spec: InferSpec) -> np.ndarray:
    """The calibrated expected ``|error|`` (input units) of ``post`` ``(n_out, …)``, from its
    features (:mod:`medsr.calibration`); without a calibration, the spread itself."""
    if spec.calibration is None:
        return np.fmax(np.asarray(spread, np.float32), np.float32(0))  # resampled: lobes can dip below 0
    from medsr.calibration import error_features

    k = np.float32(window(spec))
    bs = along(spec.bspline, y)
    feats = error_features(spread / k, pre / k, post / k, bs / k, axis=0)
    return spec.calibration.expected(feats) * k


def second_pass(
    net: Any, lr: np.ndarray, first: tuple[np.ndarray, np.ndarray], spec: InferSpec, active: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Orientation ⊥B on columns ``lr`` ``(n_lr, A, cols)``, fused with the first pass's
    estimate and spread ``first`` (each ``(n_out, A, cols)``) of the same columns, then projected
    onto data consistency → ``(estimate, expected |error|)``, each ``(n_out, A, cols)`` in the
    input's units. Columns without foreground keep the first pass's estimate and read zero."""
    ya, sa = (np.array(a, dtype=np.float32) for a in first)
    yb, sb = _orientation(net, lr, spec, active)
    y = np.asarray(lr, dtype=np.float32)
    est = _fuse(ya, yb, y, spec)
    est[:, :, ~active] = ya[:, :, ~active]
    pre = est.copy()
    consistent(est, y, spec)
    unc = expected_error(0.5 * (sa + sb), pre, est, y, spec)
    unc[:, :, ~active] = 0.0
    return est, unc


def dc_report(stats: dict[str, float]) -> dict[str, float]:
    """Relative data-consistency errors ``‖W x − y‖ / ‖y‖`` in the input's units."""
    den = math.sqrt(max(stats["syy"], 1e-30))
    return {"relative_error_before": math.sqrt(stats["r0"]) / den, "relative_error_after": math.sqrt(stats["r1"]) / den}
