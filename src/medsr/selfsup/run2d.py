"""Zero-data super-resolution of a 2D image: the fit and the inference of
:func:`medsr.selfsup.enhance` when its input is one plane (grey or RGB).

The same parts as the 3D path: the plane network (:class:`~medsr.models.planar_residual.
PlanarResidualNet`), the pair maker (:class:`~medsr.selfsup.pairs.PlaneSampler` with
``joint=True``: each channel a plane, degraded along both axes), the fitting loop
(:func:`~medsr.selfsup.run.train_within_budget`), the tiled flip-averaged inference
(:func:`~medsr.selfsup.infer.run_planes`), the one projector (:class:`~medsr.acquisition.
consistency.Separable`) and the expected-error calibration (:mod:`medsr.calibration`), measured
on a band of the image held out of training (about a tenth of its rows, in the middle), restored
from its own downscaled copy.

Layout: ``(C, A, B)`` with A, B the image's X and Y. The output is ``(C, X', Y')``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from medsr.acquisition.consistency import Consistency, Separable
from medsr.image import Image
from medsr.intensity import Normalizer
from medsr.selfsup.config import EnhanceConfig
from medsr.selfsup.operators import AxisOperators
from medsr.selfsup.plan2d import ImagePlan

log = logging.getLogger(__name__)

#: Fraction of the rows held out of training to calibrate the expected-error map.
HOLDOUT_FRACTION = 0.1


def _mask(image: Image) -> np.ndarray:
    """Foreground ``(X, Y)`` for patch centres: the training mask of a grey image, all of a colour
    photograph (tissue and retina fill it; their background is detail-free anyway)."""
    if image.channels != 1:
        return np.ones(image.shape[:2], bool)
    from medsr.mask import training_mask

    return np.asarray(training_mask(image))[:, :, 0]


def _centres(image: Image) -> np.ndarray:
    """Where training patches may centre ``(X, Y)``: every pixel above 10 % of the robust range
    (dilated by 2 pixels; :func:`medsr.metrics.reference_mask`), whatever the modality. The
    modality-aware body mask (CT above -500 HU) leaves out the skin, the table and the
    reconstruction circle's rim, whose edges a slice must learn too: on an unseen CT slice at ×2,
    patches from the body alone gained +0.8 dB over B-spline inside the body, from this mask
    +2.7 dB (docs/enhance2d.md)."""
    if image.channels != 1:
        return np.ones(image.shape[:2], bool)
    from medsr.metrics import reference_mask

    mask = np.asarray(reference_mask(image))[:, :, 0]
    return mask if mask.any() else np.ones(image.shape[:2], bool)


def holdout_band(n: int, factor: float, patch: int) -> tuple[int, int, int]:
    """Rows ``(start, stop)`` held out and the margin kept clear around them (patches centred
    within ``margin`` of the band would see it); ``(0, 0, 0)`` when the image is too small.

    Example:
        >>> holdout_band(400, 4.0, 64)
        (180, 220, 32)
    """
    width = int(max(round(HOLDOUT_FRACTION * n), round(8 * factor)))
    margin = patch // 2
    if width + 2 * margin > n // 2:
        return 0, 0, 0
    start = (n - width) // 2
    return start, start + width, margin


def _ops(plan: ImagePlan, shape_hr: tuple[int, int], shape_lr: tuple[int, int] | None = None) -> list[AxisOperators]:
    """The acquisition, B-spline and projector along X and Y from ``shape_hr`` samples."""
    return [
        AxisOperators.build(
            plan.fine_profile(a),
            n_hr=shape_hr[a],
            spacing_hr=1.0,
            spacing_lr=float(plan.factors[a]),
            n_lr=None if shape_lr is None else shape_lr[a],
        )
        for a in (0, 1)
    ]


def restore(net: Any, lr: np.ndarray, ops: list[AxisOperators], spec: Any) -> dict[str, np.ndarray]:
    """Restore normalised planes ``lr`` ``(C, a, b)`` onto the operators' fine grid → ``post``
    (projected), ``pre``, ``spread`` (flips) and ``bspline``, each ``(C, A, B)`` normalised."""
    from medsr.selfsup.infer import run_planes

    x = np.asarray(lr, dtype=np.float32)
    up = np.matmul(np.matmul(ops[0].U.astype(np.float32), x), ops[1].U.T.astype(np.float32))
    pre, spread = run_planes(net, up, spec)
    dc = Separable(tuple(Consistency(W=o.W, P=o.P) for o in ops), axes=(1, 2))
    post = dc.project(pre, x)
    st = spec.stats
    st["r0"] += float(np.sum(dc.residual(pre, x).astype(np.float64) ** 2))
    st["r1"] += float(np.sum(dc.residual(post, x).astype(np.float64) ** 2))
    st["syy"] += float(np.sum(x.astype(np.float64) ** 2))
    return {"post": post, "pre": pre, "spread": spread, "bspline": up}


def _features(r: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from medsr.calibration import error_features

    return error_features(r["spread"], r["pre"], r["post"], r["bspline"], axis=(1, 2))


def calibrate_band(net: Any, band: np.ndarray, plan: ImagePlan, spec: Any) -> tuple[Any, dict[str, Any]]:
    """Fit the expected-error map on the held-out band ``(C, w, B)`` (normalised): degraded by
    the factors, restored, compared with itself. Alternate 32-column blocks cross-fit."""
    from medsr.calibration import FEATURES, fit_calibration
    from medsr.selfsup.calibrate import MIN_VOXELS

    ops = _ops(plan, band.shape[1:])
    lr = Separable(tuple(Consistency(W=o.W, P=o.P) for o in ops), axes=(1, 2)).degrade(band)
    saved = dict(spec.stats)
    r = restore(net, lr, ops, spec)
    spec.stats.update(saved)  # the output's consistency figures only
    feats = _features(r)
    err = np.abs(r["post"] - band)
    groups = np.broadcast_to((np.arange(band.shape[2]) // 32) % 2, band.shape)
    record: dict[str, Any] = {"held_out_rows": int(band.shape[1]), "voxels": int(err.size)}
    if err.size < MIN_VOXELS or band.shape[2] < 64:
        return None, {**record, "calibrated": False}
    cal = fit_calibration({k: feats[k].ravel() for k in FEATURES}, err.ravel(), groups.ravel())
    return cal, {**record, "calibrated": True}


def fit_image(
    image: Image, plan: ImagePlan, config: EnhanceConfig, *, clock: Any, device: str, progress: Callable | None
) -> Any:
    """Normalise, make pairs from the image's own downscaled copy, fit the plane network."""
    import torch

    from medsr.acquisition.noise_level import estimate_noise
    from medsr.models.planar_residual import PlanarResidualNet
    from medsr.selfsup.pairs import PlaneSampler
    from medsr.selfsup.run import Fitted, train_within_budget

    t0, c0 = time.perf_counter(), time.process_time()
    scale = Normalizer.fit(image, mode="percentile")
    norm = np.ascontiguousarray(scale.forward(image.data)[..., 0], dtype=np.float32)  # (C, X, Y)
    fg = _mask(image)
    plan.noise.update(estimate_noise(image.with_data(image.data[:1]), mask=fg[:, :, None]))
    window = float(np.mean(np.asarray(scale.hi) - np.asarray(scale.lo)))
    sigma = float(plan.noise.get("sigma", 0.0)) / max(window, 1e-12) if config.match_noise else 0.0
    s, e, margin = holdout_band(norm.shape[1], plan.factors[0], config.fit.patch)
    centres = _centres(image)
    centres[max(0, s - margin) : e + margin] = False
    if not centres.any():
        centres[:] = True
    sampler = PlaneSampler(
        norm,
        plan.train_factors,
        {a: plan.fine_profile(a) for a in (0, 1)},
        mask=np.broadcast_to(centres, norm.shape),
        patch=config.fit.patch,
        seed=config.seed,
        noise_sigma=sigma,
        joint=True,
    )
    clock.stage("prepare", t0, c0)
    t0, c0 = time.perf_counter(), time.process_time()
    torch.manual_seed(config.seed)
    model = PlanarResidualNet(**config.net)  # one grey network for every channel (docs/enhance2d.md)
    result, prec, threads = train_within_budget(model, sampler, config, device, progress)
    clock.stage("train", t0, c0)
    hyper = {
        **config.fit.to_dict(),
        "optimizer": "Adam",
        "schedule": "warmup+cosine",
        "pairs": "the image downscaled by the factors (both axes) and interpolated back, each channel a plane",
        "augment": "flips and transposes" if sampler.transpose else "flips only",
        "held_out_rows": [int(s), int(e)],
        "input_noise_sigma": round(sigma, 6),
        "threads": threads,
        "threads_auto": not config.threads,
    }
    return Fitted(
        model=result.model,
        fit=result,
        scale=scale,
        normalised=norm,
        mask2d=fg,
        net_config=dict(model.config),
        hyper=hyper,
        precision=prec,
        init="random",
        orientations=["XY plane"],
        holdout=np.arange(s, e),
        foreground=fg[:, :, None],
    )


def infer_image(
    image: Image, plan: ImagePlan, fitted: Any, config: EnhanceConfig, *, clock: Any, device: str
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """SR and expected |error| ``(C, X', Y', 1)`` in the image's units, and the DC report."""
    from medsr.selfsup.infer import InferSpec, dc_report

    t0, c0 = time.perf_counter(), time.process_time()
    net = fitted.model
    shuffle = int(getattr(net, "shuffle", 1))
    halo = int(getattr(net, "halo", 0))
    halo += (-halo) % shuffle
    n_in = image.shape[:2]
    ops = _ops(plan, plan.output_grid.shape[:2], n_in)
    spec = InferSpec(
        U=ops[0].U, R=None, W=ops[0].W, P=ops[0].P, halo=halo, precision=fitted.precision, device=device,
        tta=config.tta, tile=config.block_size, multiple=shuffle,
    )  # fmt: skip
    cal, record = None, dict[str, Any](calibrated=False, held_out_rows=0)
    norm = fitted.normalised
    if fitted.holdout is not None and len(fitted.holdout):
        cal, record = calibrate_band(net, norm[:, fitted.holdout], plan, spec)
    clock.stage("calibrate", t0, c0)
    t0, c0 = time.perf_counter(), time.process_time()
    r = restore(net, norm, ops, spec)
    scale: Normalizer = fitted.scale
    k = np.asarray(scale.hi, np.float32) - np.asarray(scale.lo, np.float32)
    k = k.reshape(-1, 1, 1) if k.size > 1 else k.reshape(1, 1, 1)
    if cal is not None:
        unc = cal.expected(_features(r)) * k
        record["model"] = cal.to_dict(scale=float(k.mean()))
    else:
        unc = np.fmax(r["spread"], 0) * k
    est = scale.inverse(r["post"][..., None])
    record["window"] = float(k.mean())
    record["_calibration"] = cal
    clock.stage("infer", t0, c0)
    dc = {
        **dc_report(spec.stats),
        "projected": True,
        "axes": "XY",
        "halo": halo,
        "_flops": float(getattr(net, "flops_per_pixel", lambda: 0.0)()) * spec.stats["pixels"],
        "_calibration": record,
    }
    return est.astype(np.float32, copy=False), np.asarray(unc, np.float32)[..., None], dc
