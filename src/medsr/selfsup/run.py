"""The two stages behind :func:`medsr.selfsup.enhance`: fit a network on the scan's sharp
planes, then infer the whole volume block by block with fusion and data consistency.

Layout: ``(N, A, B)`` (thick, sharp, sharp). Training uses one normalised contiguous copy,
released before inference; inference reads the input itself through
:func:`medsr.engine.runner.run_tiled` (N is its "channel" axis) and normalises block by block.
The output is ``(2 N_out, A, B)`` (estimate, then uncertainty), returned as ``(X, Y, Z)`` views
in the input's axis order (for Z-thick volumes already in the writers' memory order).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from medsr.acquisition.profile import SliceProfile
from medsr.image import Image
from medsr.selfsup.fit import FitConfig, FitResult, choose_threads, fit, resolve_precision
from medsr.selfsup.infer import InferSpec, block_functions, dc_report, row_index
from medsr.intensity import Normalizer
from medsr.selfsup.normalise import foreground
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


def _load_init(model: Any, init: str | None, plan: EnhancePlan) -> str:
    if init is None:
        return "random"
    from medsr.selfsup.prior import load_prior

    return load_prior(model, init, plan)


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


def fit_network(image: Image, plan: EnhancePlan, *, clock: Any, budget: float, steps: int | None,
                device: str, seed: int, progress: Callable | None, net: dict[str, Any],
                precision: str, init: str | None, config: FitConfig | None = None,
                auto_threads: bool = False) -> Fitted:
    """Normalise, sample pairs from the sharp planes and fit the network."""
    import torch

    from medsr.models.planar_residual import PlanarResidualNet

    t0, c0 = time.perf_counter(), time.process_time()
    vol = image.data[0].transpose(_perm(plan))  # (N, A, B) view
    scale = Normalizer.fit(image, mode="percentile")  # robust p0.5..p99.5 window, exact inverse
    norm = np.ascontiguousarray(scale.forward(vol))
    mask = foreground(image).transpose(_perm(plan))
    cfg = config or FitConfig()
    a, b = _sharp(plan)
    sampler = PlaneSampler(norm, {0: plan.train_factors[a], 1: plan.train_factors[b]},
                           _sample_profiles(plan), mask=mask, patch=cfg.patch, seed=seed)
    clock.stage("prepare", t0, c0)
    t0, c0 = time.perf_counter(), time.process_time()
    torch.manual_seed(seed)
    model = PlanarResidualNet(**net)
    how = _load_init(model, init, plan)
    prec = resolve_precision(precision, device)
    t_cal = time.perf_counter()
    threads = choose_threads(model, sampler, cfg, prec, device) if auto_threads else torch.get_num_threads()
    budget = max(0.0, budget - (time.perf_counter() - t_cal))  # the calibration counts as training
    result = fit(model, sampler, steps=steps, time_budget_s=budget, config=cfg, precision=prec,
                 device=device, seed=seed, progress=progress)
    clock.stage("train", t0, c0)
    hyper = {**cfg.to_dict(), "loss": "L1", "optimizer": "Adam", "schedule": "warmup+cosine",
             "pairs": f"sharp {AXES[a]}{AXES[b]} planes degraded along {AXES[a]} and {AXES[b]}",
             "augment": "flips only", "threads": threads, "threads_auto": auto_threads}
    return Fitted(model=result.model, fit=result, scale=scale, normalised=norm, mask2d=mask.any(0),
                  net_config=dict(model.config), hyper=hyper, precision=prec, init=how,
                  orientations=[f"{AXES[b]}{AXES[plan.thick_axis]} planes",
                                f"{AXES[a]}{AXES[plan.thick_axis]} planes"])


def _block_rows(n_b: int, n_big: int, block_size: int | None, halo: int) -> int:
    """Core rows per block: the block's temporaries (≈ 3 thick-axis planes per row, halo
    included) stay near 192 MiB; wide volumes get narrow cores (more halo work, less memory)."""
    if block_size:
        return int(block_size)
    per_row = 4 * n_b * n_big * 3
    return int(max(8, min(256, (192 << 20) // max(1, per_row) - 2 * halo)))


def _operators(image: Image, plan: EnhancePlan, fitted: Fitted, device: str, tta: bool,
               halo: int, **options: Any) -> InferSpec:
    thick = plan.thick_axis
    n_lr, n_net = image.shape[thick], plan.net_size
    n_out = plan.output_grid.shape[thick]
    ops = AxisOperators.build(plan.profile, n_hr=n_out, spacing_hr=float(plan.output_grid.spacing[thick]),
                              spacing_lr=float(plan.spacing_in[thick]), n_lr=n_lr)
    return InferSpec(U=bspline_matrix(n_net, n_lr, n_net / n_lr),
                     R=None if n_out == n_net else bspline_matrix(n_out, n_net, n_out / n_net),
                     W=ops.W, P=ops.P, halo=halo, offset=fitted.scale.lo[0], scale=fitted.scale.hi[0] - fitted.scale.lo[0],
                     precision=fitted.precision, device=device, tta=tta, **options)


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


def infer_volume(image: Image, plan: EnhancePlan, fitted: Fitted, *, clock: Any, device: str,
                 tta: bool, workdir: Any, progress: Callable | None, block_size: int | None,
                 skip_background: bool = True, **options: Any
                 ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """SR and uncertainty ``(X, Y, Z)`` arrays on ``plan.output_grid`` and the DC report.

    Runs :func:`medsr.engine.runner.run_tiled` over blocks along A (whole B and N, a halo
    of the network's receptive-field radius); with ``workdir`` the output is a memmap there.
    ``options`` go to :class:`~medsr.selfsup.infer.InferSpec` (``fusion``, ``project``).
    """
    from medsr.engine.runner import run_tiled

    t0, c0 = time.perf_counter(), time.process_time()
    net = fitted.model
    shuffle = int(getattr(net, "shuffle", 1))
    halo = int(getattr(net, "halo", 0))
    halo += (-halo) % shuffle
    spec = _operators(image, plan, fitted, device, tta, halo, **options)
    n_out = plan.output_grid.shape[plan.thick_axis]
    fitted.normalised = None  # the training copy is not needed any more
    _release_memory()
    volume = image.data[0].transpose(_perm(plan))  # (N, A, B) view of the input, never copied
    n_a, n_b = volume.shape[1:]
    pad = (-n_a) % shuffle  # even A keeps every block on the same pixel-unshuffle phase
    index = row_index(n_a + pad, n_b)
    rows = _block_rows(n_b, max(plan.net_size, n_out), block_size, halo)
    rows = max(shuffle, rows - rows % shuffle)
    fn, fill = block_functions(net, spec, volume)
    mask = None
    if skip_background and fitted.mask2d is not None:
        mask = np.pad(fitted.mask2d, ((0, pad), (0, 0)), mode="edge") if pad else fitted.mask2d
    shape = (2 * n_out, n_a + pad, n_b)
    out = None
    if workdir is not None:
        from medsr.engine.stitch import temp_memmap

        out = temp_memmap(workdir, shape)
    res = run_tiled(fn, index, (1, 1), tile=(rows, None), halo=(halo, 0), blend="none", mask=mask,
                    fill=fill, out=out, progress=(lambda d, t: progress("infer", d, t)) if progress else None)
    res = res[:, :n_a]
    back = _unperm(plan)
    est, unc = res[:n_out].transpose(back), res[n_out:].transpose(back)
    clock.stage("infer", t0, c0)
    flops = float(getattr(net, "flops_per_pixel", lambda: 0.0)()) * spec.stats["pixels"]
    dc = {**dc_report(spec.stats), "projected": spec.project,
          "fusion": spec.fusion, "block_rows": rows, "halo": halo, "_flops": flops}
    return est, unc, dc
