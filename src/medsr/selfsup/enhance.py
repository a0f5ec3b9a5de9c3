"""``enhance``: zero-data through-plane super-resolution of one thick-slice volume.

The scan teaches itself (SMORE: Zhao et al., IEEE TMI 2021; ECLARE: Remedios et al., 2023):
its sharp planes, degraded along one axis with the thick axis's slice profile and interpolated
back, become training pairs for a small residual CNN
(:class:`medsr.models.planar_residual.PlanarResidualNet`); the network then restores the two
families of planes that contain the thick axis, which are fused; the spread between them is the
uncertainty. The result is projected onto data consistency with the input (degraded with the
assumed profile it reproduces the input) and mapped back to the input's units.

Example:
    >>> import numpy as np
    >>> from medsr.image import Image
    >>> vol = np.random.default_rng(0).random((1, 24, 24, 6)).astype(np.float32)
    >>> res = enhance(Image(vol, spacing=(1, 1, 4)), steps=2)
    >>> res.image.shape, res.uncertainty.shape
    ((24, 24, 24), (24, 24, 24))
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medsr.acquisition.profile import SliceProfile
from medsr.image import Image
from medsr.selfsup.plan import EnhancePlan, plan_enhance

log = logging.getLogger(__name__)

#: Default training time (s) when neither ``time_budget_s`` nor ``steps`` is given.
DEFAULT_BUDGET_S = 90.0
#: Default network (see benchmarks/enhance.py for the measurements behind it).
DEFAULT_NET = {"channels": 32, "blocks": 6, "shuffle": 2, "res_scale": 0.5}
#: Average the network over the flips it was trained with at inference (×4 inference time;
#: +0.12 dB on the brain MR proxy of benchmarks/enhance_proxy.py at equal training steps).
DEFAULT_TTA = True


@dataclass
class EnhanceResult:
    """The SR image, its per-voxel uncertainty (same grid and units) and the run's record."""

    image: Image
    uncertainty: Image
    info: dict[str, Any] = field(default_factory=dict)
    loss_curve: list[tuple[int, float]] = field(default_factory=list)


class _Clock:
    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def stage(self, name: str, t0: float, c0: float) -> None:
        self.wall[name] = round(time.perf_counter() - t0, 3)
        self.cpu[name] = round(time.process_time() - c0, 3)


def _device(device: str) -> str:
    from medsr.engine.device import resolve_device

    return str(resolve_device(device))


def _versions() -> dict[str, str]:
    import scipy
    import torch

    import medsr

    return {"medsr": medsr.__version__, "torch": torch.__version__, "numpy": np.__version__, "scipy": scipy.__version__}


def enhance(
    image: Image,
    *,
    spacing: Sequence[float] | None = None,
    factors: Sequence[float] | None = None,
    slice_thickness_mm: float | None = None,
    profile: str | SliceProfile = "rect",
    time_budget_s: float | None = None,
    steps: int | None = None,
    device: str = "auto",
    threads: int | None = None,
    seed: int = 0,
    workdir: str | os.PathLike | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    net: dict[str, Any] | None = None,
    precision: str = "auto",
    tta: bool = DEFAULT_TTA,
    block_size: int | None = None,
    slab: int | None = None,
    init: str | None = "auto",
) -> EnhanceResult:
    """Restore the thick axis of ``image`` from its own sharp planes.

    Args:
        image: one-channel volume ``(1, X, Y, Z)``; any of X, Y, Z may be the thick axis.
        spacing / factors: the target grid (see :func:`plan_enhance`); default isotropic at the
            in-plane spacing, field of view preserved.
        slice_thickness_mm: acquired thickness (default ``meta.slice_thickness``, else assumed
            equal to the spacing); below the spacing means a gap.
        profile: ``"rect"``, ``"gaussian"`` (thickness = FWHM) or a :class:`SliceProfile`.
        time_budget_s: training time (s), default :data:`DEFAULT_BUDGET_S`.
        steps: a fixed number of training steps instead (exactly repeatable).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        threads: torch intra-op threads; default: whichever of 1 and torch's current count
            trains faster (timed on a few steps; matters on loaded machines).
        seed: seeds sampling and initialisation.
        workdir: folder for memory-mapped outputs (for outputs larger than memory).
        progress: ``callback(stage, done, total)``.
        net: network hyperparameters (default :data:`DEFAULT_NET`).
        precision: ``"auto"`` (bf16 where the CPU has it), ``"bfloat16"`` or ``"float32"``.
        tta: average the network over flipped planes (along either axis and both; ×4 inference
            time, default :data:`DEFAULT_TTA`).
        block_size: width of plane tiles at inference (default: whole planes, tiled only when
            one plane exceeds the memory budget); slab: planes per inference slab (default from
            a memory budget). Neither changes the result.
        init: ``"auto"`` (a shipped generic prior when present and matching; none is shipped,
            see :mod:`medsr.selfsup.prior`), ``None`` (random initialisation) or a path to a
            safetensors file written by :func:`medsr.selfsup.prior.save_prior`.

    Returns:
        :class:`EnhanceResult` with the SR image on ``plan.output_grid``, the uncertainty
        (same grid, input units) and ``info`` for the JSON sidecar.
    """
    import torch

    from medsr.selfsup.run import fit_network, infer_volume

    clock = _Clock()
    t0, c0 = time.perf_counter(), time.process_time()
    plan = plan_enhance(image, spacing=spacing, factors=factors, slice_thickness_mm=slice_thickness_mm, profile=profile)
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        dev = _device(device)
        clock.stage("plan", t0, c0)
        budget = DEFAULT_BUDGET_S if time_budget_s is None else float(time_budget_s)
        fitted = fit_network(
            image,
            plan,
            clock=clock,
            budget=budget,
            steps=steps,
            device=dev,
            seed=seed,
            progress=progress,
            net=net or DEFAULT_NET,
            precision=precision,
            init=init,
            auto_threads=not threads,
        )
        out, unc, dc = infer_volume(
            image,
            plan,
            fitted,
            clock=clock,
            device=dev,
            tta=tta,
            workdir=workdir,
            progress=progress,
            block_size=block_size,
            slab=slab,
        )
    finally:
        torch.set_num_threads(old_threads)
    clock.stage("total", t0, c0)
    hist = {"op": "enhance", "thick_axis": "XYZ"[plan.thick_axis], "factor": plan.factor}
    thick_z = float(plan.output_grid.spacing[2]) if plan.thick_axis == 2 else image.meta.slice_thickness
    sr = image.with_data(out[None], grid=plan.output_grid, history=image.meta.history + [hist], slice_thickness=thick_z)
    un = image.with_data(unc[None], grid=plan.output_grid, history=image.meta.history + [hist], slice_thickness=thick_z)
    info = _record(image, plan, fitted, dc, clock, budget=budget, device=dev, tta=tta, seed=seed)
    return EnhanceResult(image=sr, uncertainty=un, info=info, loss_curve=list(fitted.fit.loss_curve))


def _record(
    image: Image,
    plan: EnhancePlan,
    fitted: Any,
    dc: dict[str, Any],
    clock: _Clock,
    *,
    budget: float,
    device: str,
    tta: bool,
    seed: int,
) -> dict[str, Any]:
    """The JSON-able account of one run (the sidecar's ``enhance`` section)."""
    return {
        "method": "medsr.selfsup (SMORE-style zero-data through-plane SR)",
        "input": {
            "shape": list(image.shape),
            "spacing_mm": [float(s) for s in image.spacing],
            "path": image.meta.source_path,
            "modality": image.meta.modality,
            "units": image.meta.units,
        },
        **plan.to_dict(),
        "network": {
            "name": "planar_residual",
            **fitted.net_config,
            "parameters": int(sum(p.numel() for p in fitted.model.parameters())),
            "init": fitted.init,
        },
        "training": {
            **fitted.hyper,
            "steps": fitted.fit.steps,
            "time_budget_s": budget,
            "precision": fitted.precision,
            "device": device,
            "final_loss": fitted.fit.loss_curve[-1][1] if fitted.fit.loss_curve else None,
        },
        "fusion": {"orientations": fitted.orientations, "rule": "mean", "uncertainty": "|a-b|/2", "tta": bool(tta)},
        "intensity": fitted.scale.to_dict(),
        "data_consistency": dc,
        "seed": int(seed),
        "threads": fitted.hyper["threads"],
        "timings_s": clock.wall,
        "cpu_seconds": clock.cpu,
        "flops": {"train": fitted.fit.flops, "inference": dc.pop("_flops", 0.0)},
        "loss_curve": [[int(s), round(float(v), 6)] for s, v in fitted.fit.loss_curve],
        "versions": _versions(),
    }
