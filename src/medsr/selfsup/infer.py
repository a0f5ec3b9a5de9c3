"""Applying the fitted plane network along the thick axis, in two orientations, block by block.

Layout: channels-first for the shared tiled engine (:func:`medsr.engine.runner.run_tiled`): the
LR volume is ``(N, A, B)`` with the thick axis N as the "channel" axis and A, B the
sharp axes. Blocks run along A with a halo (≥ the network's receptive-field radius) and hold
the whole of B and N, so tiled and untiled outputs agree and the data-consistency projection
(along N, per column) is exact inside each block.

The two orientations are the planes that contain the thick axis: ⊥A (each ``(N, B)``) and ⊥B
(each ``(N, A)``). Their mean is the estimate; their absolute half-difference is the
uncertainty (SMORE, Zhao et al., IEEE TMI 2021, fuses orientations in the Fourier domain; a
plain mean is used here — see ``benchmarks/enhance.py`` for the measurements).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass
class InferSpec:
    """Operators and settings of one volume's inference (normalised units).

    Attributes:
        U: ``(n_net, n_lr)`` cubic B-spline onto the network grid along N.
        R: ``(n_out, n_net)`` resampling onto the output grid, or ``None`` when they agree.
        W, P: ``(n_lr, n_out)`` acquisition and ``(n_out, n_lr)`` consistency projector.
        halo: rows of context on each side of a block along A (cropped by the caller).
        precision: ``bf16`` or ``fp32``; device: torch device string.
        plane_pixels: pixels per network call (bounds memory).
        tta: also run the planes flipped along their sharp axis and average (×2 cost).
        fusion: ``"mean"`` of both orientations (default), ``"dc"`` (per column, weighted by
            each orientation's data-consistency residual; measured +0.05 dB on the CT
            cross-check, not the default), or one alone (``"A"``, ``"B"``; for ablations).
        project: apply the data-consistency projection (off only for ablations).
        offset, scale: the intensity normalisation (network units = (x − offset) / scale).
        stats: running sums over block cores: ``r0``/``r1`` = ‖Wx−y‖² before/after the
            projection, ``syy`` = Σy² (input units), ``pixels`` = network output pixels.
    """

    U: np.ndarray
    R: np.ndarray | None
    W: np.ndarray
    P: np.ndarray
    halo: int
    offset: float = 0.0
    scale: float = 1.0
    precision: str = "fp32"
    device: str = "cpu"
    plane_pixels: int = 1 << 19
    tta: bool = False
    fusion: str = "mean"
    project: bool = True
    stats: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("r0", "r1", "syy", "pixels"), 0.0))

    def __post_init__(self) -> None:
        for name in ("U", "R", "W", "P"):
            m = getattr(self, name)
            if m is not None:
                setattr(self, name, np.ascontiguousarray(m, dtype=np.float32))


def run_planes(net: Any, planes: np.ndarray, spec: InferSpec) -> np.ndarray:
    """Network on ``(P, H, W)`` planes (H the thick axis) → ``(P, H, W)`` float32."""
    import torch

    out = np.empty(planes.shape, dtype=np.float32)
    per = max(1, spec.plane_pixels // max(1, planes.shape[1] * planes.shape[2]))
    bf16 = spec.precision == "bf16"
    with torch.inference_mode(), torch.autocast(device_type=spec.device.split(":")[0],
                                                dtype=torch.bfloat16, enabled=bf16):
        for s in range(0, planes.shape[0], per):
            x = torch.from_numpy(np.ascontiguousarray(planes[s:s + per]))[:, None].to(spec.device)
            if bf16:
                x = x.contiguous(memory_format=torch.channels_last)
            y = net(x).float()
            if spec.tta:
                y = 0.5 * (y + torch.flip(net(torch.flip(x, (3,))).float(), (3,)))
            out[s:s + per] = y[:, 0].cpu().numpy()
    spec.stats["pixels"] += planes.size * (2 if spec.tta else 1)
    return out


def _along0(M: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``M`` (m, n) applied along axis 0 of ``x`` (n, …) → (m, …), float32."""
    return (M @ x.reshape(x.shape[0], -1)).reshape((M.shape[0],) + x.shape[1:])


def consistent(est: np.ndarray, y: np.ndarray, spec: InferSpec) -> None:
    """Project ``est`` (n_out, …) in place onto ``W est = y`` (n_lr, …); record the errors."""
    r0 = y - _along0(spec.W, est)
    if spec.project:
        est += _along0(spec.P, r0)
    r1 = y - _along0(spec.W, est) if spec.project else r0
    y64 = y.astype(np.float64)
    st = spec.stats
    st["r0"] += float(np.sum(r0.astype(np.float64) ** 2))
    st["r1"] += float(np.sum(r1.astype(np.float64) ** 2))
    st["syy"] += float(np.sum(y64 ** 2))


def _dc_weighted(ya: np.ndarray, yb: np.ndarray, y: np.ndarray, spec: InferSpec) -> np.ndarray:
    """Per-column fusion weighted by each orientation's data-consistency residual (the one
    that better reproduces the acquired slices counts more); columns are independent."""
    ra = np.sum((_along0(spec.W, ya) - y) ** 2, axis=0)
    rb = np.sum((_along0(spec.W, yb) - y) ** 2, axis=0)
    wa = (rb + 1e-12) / (ra + rb + 2e-12)
    return wa * ya + (1 - wa) * yb


def _chunks(n: int, per: int) -> list[tuple[int, int]]:
    return [(s, min(n, s + per)) for s in range(0, n, max(1, per))]


def predict_block(net: Any, block: np.ndarray, spec: InferSpec) -> np.ndarray:
    """The per-block function: ``(n_lr, a, B)`` LR in the input's units with ``spec.halo`` rows
    of context on both sides of A → ``(2 n_out, a, B)``: the consistent, fused estimate then
    the uncertainty, in the input's units (halo rows are zero; the caller crops them).

    Memory: the output (its halo rows are never touched, so never resident) and small chunks:
    the planes are interpolated, run through the network and fused a few at a time.
    """
    h, a, n_b = spec.halo, block.shape[1], block.shape[2]
    nc = a - 2 * h
    x = (np.asarray(block, dtype=np.float32) - np.float32(spec.offset)) / np.float32(spec.scale)
    n_net, n_out = spec.U.shape[0], spec.W.shape[1]
    out = np.zeros((2 * n_out, a, n_b), dtype=np.float32)
    if spec.R is None:
        est, unc = out[:n_out, h:h + nc], out[n_out:, h:h + nc]
    else:
        est, unc = np.empty((n_net, nc, n_b), np.float32), np.empty((n_net, nc, n_b), np.float32)
    per = max(1, spec.plane_pixels // max(1, n_net * max(a, n_b)))
    for s, e in _chunks(nc, per):  # planes ⊥A: one per core row, (N, B) each
        up = _along0(spec.U, x[:, h + s:h + e])  # (n_net, rows, B), interpolated along N
        est[:, s:e] = run_planes(net, up.transpose(1, 0, 2), spec).transpose(1, 0, 2)
    for s, e in _chunks(n_b, per):  # planes ⊥B: one per column, (N, a) each, cropped to the core
        up = _along0(spec.U, x[:, :, s:e])  # (n_net, a, cols)
        yb = run_planes(net, up.transpose(2, 0, 1), spec)[:, :, h:h + nc].transpose(1, 2, 0)
        ya = est[:, :, s:e]
        unc[:, :, s:e] = 0.5 * np.abs(ya - yb)
        if spec.fusion == "B":
            ya[...] = yb
        elif spec.fusion == "dc" and spec.R is None:
            ya[...] = _dc_weighted(ya, yb, x[:, h:h + nc, s:e], spec)
        elif spec.fusion != "A":
            ya += yb
            ya *= 0.5
    del up, x
    if spec.R is not None:
        out[:n_out, h:h + nc] = _along0(spec.R, est)
        out[n_out:, h:h + nc] = np.abs(_along0(spec.R, unc))
        est, unc = out[:n_out, h:h + nc], out[n_out:, h:h + nc]
    est *= np.float32(spec.scale)
    est += np.float32(spec.offset)
    unc *= np.float32(spec.scale)
    consistent(est, np.asarray(block[:, h:h + nc], dtype=np.float32), spec)
    return out


def interpolate_block(block: np.ndarray, spec: InferSpec) -> np.ndarray:
    """Fill for background blocks: cubic B-spline, consistent, zero uncertainty; no halo."""
    y = np.asarray(block, dtype=np.float32)
    est = _along0(spec.U, y)
    if spec.R is not None:
        est = _along0(spec.R, est)
    consistent(est, y, spec)
    return np.concatenate([est, np.zeros_like(est)], axis=0)


def row_index(n_rows: int, n_cols: int) -> np.ndarray:
    """``(1, n_rows, n_cols)`` float32 map of row numbers, the array handed to the engine.

    The engine tiles, pads (by reflection) and crops this small map instead of the volume, so
    no padded copy of the volume is made; each block function reads the rows it is given from
    the volume itself (reflected rows at the borders, as the engine's padding would give).
    """
    rows = np.arange(n_rows, dtype=np.float32)[None, :, None]
    return np.ascontiguousarray(np.broadcast_to(rows, (1, n_rows, n_cols)))


def block_functions(net: Any, spec: InferSpec, volume: np.ndarray) -> tuple[Callable, Callable]:
    """``(fn, fill)`` for :func:`medsr.engine.runner.run_tiled` over :func:`row_index` of
    ``volume`` (``(N, A, B)`` in the input's units; rows past A repeat the last row)."""
    last = volume.shape[1] - 1

    def rows_of(block: np.ndarray) -> np.ndarray:
        idx = np.minimum(np.rint(block[0, :, 0]).astype(np.intp), last)
        return np.asarray(volume[:, idx, :], dtype=np.float32)

    return (lambda b: predict_block(net, rows_of(b), spec)), (lambda b: interpolate_block(rows_of(b), spec))


def dc_report(stats: dict[str, float]) -> dict[str, float]:
    """Relative data-consistency errors ``‖W x − y‖ / ‖y‖`` in the input's units."""
    den = math.sqrt(max(stats["syy"], 1e-30))
    return {"relative_error_before": math.sqrt(stats["r0"]) / den,
            "relative_error_after": math.sqrt(stats["r1"]) / den}
