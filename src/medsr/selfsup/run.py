"""The two stages behind :func:`medsr.selfsup.enhance`: fit a network on the scan's sharp
planes, then infer the whole volume slab by slab in two passes, with fusion and data consistency.

Layout: ``(N, A, B)`` (thick, sharp, sharp). Training uses one normalised contiguous copy,
released before inference; inference reads the input itself slab by slab and normalises each
slab (:mod:`medsr.selfsup.infer`). The output is ``(2 N_out, A, B)`` (estimate, then
uncertainty; a memmap with ``workdir``), returned as ``(X, Y, Z)`` views in the input's axis
order (for Z-thick volumes already in the writers' memory order).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medsr.acquisition.profile import SliceProfile
from medsr.image import Image
from medsr.intensity import Normalizer
from medsr.mask import training_mask
from medsr.selfsup.config import EnhanceConfig
from medsr.selfsup.fit import FitResult, choose_threads, fit, resolve_precision
from medsr.selfsup.infer import InferSpec, chunks, dc_report, first_pass, second_pass
from medsr.selfsup.operators import AxisOperators, bspline_matrix
from medsr.selfsup.pairs import PlaneSampler
from medsr.selfsup.plan import AXES, EnhancePlan

log = logging.getLogger(__name__)


@dataclass
class Fitted:
    model: Any
    fit: FitResult
    scale: Normalizer
    normalised: np.ndarray | None
    mask2d: np.ndarray | None
    net_config: dict[str, Any]
    hyper: dict[str, Any]
    precision: str
    init: str
    orientations: list[str] = field(default_factory=list)
    holdout: np.ndarray | None = None
    holdout_mask: np.ndarray | None = None
    foreground: np.ndarray | None = None  # the training mask (X, Y, Z) of the input


def _sharp(plan: EnhancePlan) -> tuple[int, int]:
    """The sharp axes as (A, B): the later array axis first, so that ``(N, A, B)`` is the memory
    order SimpleITK and NIfTI writers want (the fastest axis last) and writing needs no copy."""
    return (plan.inplane_axes[1], plan.inplane_axes[0])


def _perm(plan: EnhancePlan) -> tuple[int, int, int]:
    """Array axes in the order (N, A, B)."""
    return (plan.thick_axis, *_sharp(plan))


def _unperm(plan: EnhancePlan) -> tuple[int, int, int]:
    """Axes of an (N, A, B) array in the order (X, Y, Z)."""
    perm = _perm(plan)
    return tuple(perm.index(a) for a in range(3))  # type: ignore[return-value]


def _initial_model(config: EnhanceConfig, plan: EnhancePlan, cls: Any) -> tuple[Any, str]:
    """The network to fit and where its weights came from: an enhance bundle (cohort mode), a
    prior file, the shipped prior (``"auto"``) or random."""
    from medsr.selfsup.cohort import protocol_of

    init = config.init
    if protocol_of(init) is not None:
        from medsr.errors import ConfigError
        from medsr.models.bundle import load_model

        bundle = load_model(str(init))
        model = bundle.model
        if config.net and {**model.config, **config.net} != model.config:
            raise ConfigError(
                str(init), f"the bundle's network is {model.config}, not {config.net}", "drop the network options"
            )
        return model, f"bundle:{Path(str(init)).name}"
    model = cls(**config.net)
    if init is None:
        return model, "random"
    from medsr.selfsup.prior import load_prior

    return model, load_prior(model, init, plan)


def _sample_profiles(plan: EnhancePlan) -> SliceProfile | dict[int, SliceProfile]:
    """The slice profile in units of each sharp axis's samples (a kernel is rescaled)."""
    prof = plan.profile
    if prof.kind != "kernel" or prof.kernel_mm is None:
        return prof
    out = {}
    for i, axis in enumerate(_sharp(plan)):
        h = plan.spacing_in[axis]
        offs = tuple(float(o) / h for o in prof.kernel_mm[0])
        out[i] = SliceProfile("kernel", prof.thickness_mm / h, (offs, tuple(prof.kernel_mm[1])))
    return out


def train_within_budget(
    model: Any, sampler: Any, config: EnhanceConfig, device: str, progress: Callable | None
) -> tuple[FitResult, str, int]:
    """The one fitting of every zero-data run (3D planes, 2D images, bundles adapted to their
    input): precision, the thread count (timed, and counted in the budget) and the fit."""
    import torch

    prec = resolve_precision(config.precision, device)
    t_cal = time.perf_counter()
    calibrate = not config.threads and config.steps != 0
    threads = choose_threads(model, sampler, config.fit, prec, device) if calibrate else torch.get_num_threads()
    budget = max(0.0, config.time_budget_s - (time.perf_counter() - t_cal))  # calibration counts as training
    result = fit(
        model,
        sampler,
        steps=config.steps,
        time_budget_s=budget,
        config=config.fit,
        precision=prec,
        device=device,
        seed=config.seed,
        progress=progress,
    )
    return result, prec, threads


def fit_network(
    image: Image, plan: EnhancePlan, config: EnhanceConfig, *, clock: Any, device: str, progress: Callable | None
) -> Fitted:
    """Normalise, sample pairs from the sharp planes and fit the network (``config.fit``,
    ``config.net``, budget or steps, precision, seed, init; threads chosen when not given)."""
    import torch

    from medsr.models.planar_residual import PlanarResidualNet

    t0, c0 = time.perf_counter(), time.process_time()
    vol = image.data[0].transpose(_perm(plan))  # (N, A, B) view
    scale = Normalizer.fit(image, mode="percentile")  # robust p0.5..p99.5 window, exact inverse
    norm = np.ascontiguousarray(scale.forward(vol))
    fg = training_mask(image)
    mask: np.ndarray = fg.transpose(_perm(plan))
    cfg, seed, auto_threads = config.fit, config.seed, not config.threads
    a, b = _sharp(plan)
    if not plan.noise:  # recorded in the sidecar; the training mask is reused
        from medsr.acquisition.noise_level import estimate_noise

        plan.noise.update(estimate_noise(image, mask=fg))
    sigma = float(plan.noise.get("sigma", 0.0)) / max(scale.hi[0] - scale.lo[0], 1e-12) if config.match_noise else 0.0
    from medsr.selfsup.calibrate import holdout_planes

    held = holdout_planes(mask)
    sampler = PlaneSampler(
        norm,
        {0: plan.train_factors[a], 1: plan.train_factors[b]},
        _sample_profiles(plan),
        mask=mask,
        patch=cfg.patch,
        seed=seed,
        noise_sigma=sigma,
        exclude=held,
    )
    clock.stage("prepare", t0, c0)
    t0, c0 = time.perf_counter(), time.process_time()
    torch.manual_seed(seed)
    model, how = _initial_model(config, plan, PlanarResidualNet)
    result, prec, threads = train_within_budget(model, sampler, config, device, progress)
    clock.stage("train", t0, c0)
    hyper = {
        **cfg.to_dict(),
        "optimizer": "Adam",
        "schedule": "warmup+cosine",
        "pairs": f"sharp {AXES[a]}{AXES[b]} planes degraded along {AXES[a]} and {AXES[b]}",
        "augment": "flips only",
        "held_out_planes": [int(i) for i in held],
        "input_noise_sigma": round(sigma, 6),
        "threads": threads,
        "threads_auto": auto_threads,
    }
    return Fitted(
        model=result.model,
        fit=result,
        scale=scale,
        normalised=norm,
        mask2d=np.asarray(mask.any(0)),
        net_config=dict(model.config),
        hyper=hyper,
        precision=prec,
        init=how,
        orientations=[f"{AXES[b]}{AXES[plan.thick_axis]} planes", f"{AXES[a]}{AXES[plan.thick_axis]} planes"],
        holdout=held,
        holdout_mask=np.ascontiguousarray(mask[held]),
        foreground=fg,
    )


def _slab(n_net: int, n_out: int, width: int, slab: int | None) -> int:
    """Planes per slab: a slab's temporaries (≈ 12 float32 copies of ``max(n_net, n_out) ×
    width`` per plane: input, interpolation, network in and out, both estimates and spreads,
    fusion, the error features and map) stay near 192 MiB."""
    if slab:
        return int(slab)
    per_plane = 4 * 12 * max(n_net, n_out) * max(1, width)
    return int(max(1, min(1024, (192 << 20) // per_plane)))


def _operators(
    image: Image, plan: EnhancePlan, fitted: Fitted, device: str, tta: bool, halo: int, **options: Any
) -> InferSpec:
    thick = plan.thick_axis
    n_lr, n_net = image.shape[thick], plan.net_size
    n_out = plan.output_grid.shape[thick]
    ops = AxisOperators.build(
        plan.profile,
        n_hr=n_out,
        spacing_hr=float(plan.output_grid.spacing[thick]),
        spacing_lr=float(plan.spacing_in[thick]),
        n_lr=n_lr,
    )
    return InferSpec(
        U=bspline_matrix(n_net, n_lr, n_net / n_lr),
        R=None if n_out == n_net else bspline_matrix(n_out, n_net, n_out / n_net),
        W=ops.W,
        P=ops.P,
        halo=halo,
        normalizer=fitted.scale,
        precision=fitted.precision,
        device=device,
        tta=tta,
        **options,
    )


def _release_memory() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them otherwise; peak RSS matters for
    large outputs). A no-op where ``malloc_trim`` does not exist."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def infer_volume(
    image: Image,
    plan: EnhancePlan,
    fitted: Fitted,
    config: EnhanceConfig,
    *,
    clock: Any,
    device: str,
    progress: Callable | None,
    skip_background: bool = True,
    **options: Any,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """SR and uncertainty ``(X, Y, Z)`` arrays on ``plan.output_grid`` and the DC report.

    Two passes over slabs of planes (:mod:`medsr.selfsup.infer`): rows of A, then columns of
    B; with ``config.workdir`` the output is a memmap there. ``config.block_size`` is the width of
    plane tiles (default: whole planes), ``config.slab`` the planes per slab (default from a memory
    budget); neither changes the result; ``config.tta`` averages over flips.
    ``options`` go to :class:`~medsr.selfsup.infer.InferSpec` (``fusion``,
    ``project``).
    """
    t0, c0 = time.perf_counter(), time.process_time()
    net = fitted.model
    shuffle = int(getattr(net, "shuffle", 1))
    halo = int(getattr(net, "halo", 0))
    halo += (-halo) % shuffle
    tta, workdir, slab = config.tta, config.workdir, config.slab
    spec = _operators(image, plan, fitted, device, tta, halo, tile=config.block_size, multiple=shuffle, **options)
    n_out = plan.output_grid.shape[plan.thick_axis]
    calibration = _calibrate(plan, fitted, spec)
    clock.stage("calibrate", t0, c0)
    t0, c0 = time.perf_counter(), time.process_time()
    fitted.normalised = None  # the training copy is not needed any more
    _release_memory()
    volume = image.data[0].transpose(_perm(plan))  # (N, A, B) view of the input, never copied
    n_a, n_b = volume.shape[1:]
    fg = fitted.mask2d if (skip_background and fitted.mask2d is not None) else np.ones((n_a, n_b), bool)
    shape = (2 * n_out, n_a, n_b)
    res: np.ndarray
    if workdir is not None:
        from medsr.engine.stitch import temp_memmap

        res = temp_memmap(workdir, shape)
    else:
        res = np.empty(shape, dtype=np.float32)
    rows, cols = (
        chunks(n_a, _slab(plan.net_size, n_out, n_b, slab)),
        chunks(n_b, _slab(plan.net_size, n_out, n_a, slab)),
    )
    total, done = len(rows) + len(cols), 0
    for s, e in rows:  # pass 1: planes ⊥A, one per row (estimate; spread where the map will be)
        res[:n_out, s:e], res[n_out:, s:e] = first_pass(net, volume[:, s:e], spec, np.asarray(fg[s:e].any(1)))
        done += 1
        if progress:
            progress("infer", done, total)
    for s, e in cols:  # pass 2: planes ⊥B, one per column; fusion, uncertainty, consistency
        first = (res[:n_out, :, s:e], res[n_out:, :, s:e])
        est, unc = second_pass(net, volume[:, :, s:e], first, spec, np.asarray(fg[:, s:e].any(0)))
        res[:n_out, :, s:e] = est
        res[n_out:, :, s:e] = unc
        done += 1
        if progress:
            progress("infer", done, total)
    back = _unperm(plan)
    est, unc = res[:n_out].transpose(back), res[n_out:].transpose(back)
    clock.stage("infer", t0, c0)
    flops = float(getattr(net, "flops_per_pixel", lambda: 0.0)()) * spec.stats["pixels"]
    dc = {
        **dc_report(spec.stats),
        "projected": spec.project,
        "fusion": spec.fusion,
        "plane_tile": spec.tile,
        "halo": halo,
        "slabs": [len(rows), len(cols)],
        "_flops": flops,
        "_calibration": calibration,
    }
    return est, unc, dc


def _calibrate(plan: EnhancePlan, fitted: Fitted, spec: InferSpec) -> dict[str, Any]:
    """Fit ``spec.calibration`` on the held-out planes; the sidecar's record of it."""
    from medsr.selfsup.calibrate import calibrate_on_planes

    held = fitted.holdout
    if fitted.normalised is None or held is None or len(held) == 0 or fitted.holdout_mask is None:
        return {"calibrated": False, "held_out_planes": 0}
    a, b = _sharp(plan)
    cal, record = calibrate_on_planes(
        fitted.model,
        fitted.normalised[held],
        fitted.holdout_mask,
        [plan.train_factors[a], plan.train_factors[b]],
        _sample_profiles(plan),
        spec,
    )
    spec.calibration = cal
    record["window"] = float(fitted.scale.hi[0] - fitted.scale.lo[0])
    if cal is not None:
        record["model"] = cal.to_dict(scale=record["window"])
    record["_calibration"] = cal
    return record
