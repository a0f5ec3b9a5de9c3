"""``enhance``: zero-data through-plane super-resolution of one thick-slice volume.

The scan teaches itself (SMORE: Zhao et al., IEEE TMI 2021; ECLARE: Remedios et al., 2023):
its sharp planes, degraded along one axis with the thick axis's slice profile and interpolated
back, become training pairs for a small residual CNN
(:class:`medsr.models.planar_residual.PlanarResidualNet`); the network then restores the two
families of planes that contain the thick axis, which are fused. The result is projected onto
data consistency with the input (degraded with the assumed profile it reproduces the input)
and mapped back to the input's units. Beside it comes the expected |error| per voxel, in the
same units, calibrated on sharp planes the fit never saw (:mod:`medsr.selfsup.calibrate`), and
the trust summary: the fraction of foreground voxels expected to be wrong by more than a
threshold (:mod:`medsr.trust`).

Example:
    >>> import numpy as np
    >>> from medsr.image import Image
    >>> vol = np.random.default_rng(0).random((1, 24, 24, 6)).astype(np.float32)
    >>> res = enhance(Image(vol, spacing=(1, 1, 4)), steps=2)
    >>> res.image.shape, res.uncertainty.shape
    ((24, 24, 24), (24, 24, 24))
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from medsr.engine.device import torch_threads
from medsr.image import Image
from medsr.io.sidecar import software_versions
from medsr.selfsup.config import EnhanceConfig
from medsr.selfsup.plan import plan_enhance

log = logging.getLogger(__name__)


@dataclass
class EnhanceResult:
    """The SR image, its expected |error| per voxel (same grid and units) and the run's record.

    ``foreground`` is the output-grid foreground (bool ``(X, Y, Z)``) of the trust summary;
    ``calibration`` the :class:`medsr.calibration.Calibration` of the map (``None`` when too
    little was held out: the map is then the flips' spread), for interval half-widths."""

    image: Image
    uncertainty: Image
    info: dict[str, Any] = field(default_factory=dict)
    loss_curve: list[tuple[int, float]] = field(default_factory=list)
    model: Any = field(default=None, repr=False)  # the fitted network (CPU), for save_model
    foreground: Any = field(default=None, repr=False)
    calibration: Any = field(default=None, repr=False)

    def interval(self, level: float = 0.9) -> Image:
        """Half-width of the ``level`` interval around the output (same grid and units)."""
        from medsr.calibration import interval_image

        return interval_image(self.uncertainty, self.calibration, level)


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


def enhance(
    image: Image,
    config: EnhanceConfig | None = None,
    *,
    progress: Callable[[str, int, int], None] | None = None,
    **options: Any,
) -> EnhanceResult:
    """Restore the thick axis of ``image`` from its own sharp planes.

    Args:
        image: one-channel volume ``(1, X, Y, Z)``; any of X, Y, Z may be the thick axis.
        config: the run's :class:`~medsr.selfsup.config.EnhanceConfig` (default: its defaults).
        progress: ``callback(stage, done, total)``.
        **options: fields of :class:`~medsr.selfsup.config.EnhanceConfig` to change, e.g.
            ``factors=(1, 1, 4)``, ``steps=200``, ``slice_thickness_mm=3``, ``profile="gaussian"``.

    Returns:
        :class:`EnhanceResult` with the SR image on ``plan.output_grid``, the uncertainty
        (same grid, input units) and ``info`` for the JSON sidecar.
    """
    from medsr.selfsup.cohort import check_domain, protocol_of
    from medsr.selfsup.run import fit_network, infer_volume

    if "profile" in options and options["profile"] is None:
        del options["profile"]  # the default: auto, or the protocol bundle's
    cfg = (config or EnhanceConfig()).replace(**options)
    clock = _Clock()
    t0, c0 = time.perf_counter(), time.process_time()
    if image.is_2d:
        if options.get("time_budget_s") is None and "time_budget_s" not in _changed(config):
            from medsr.selfsup import fit as fit_defaults

            rgb = image.channels == 3
            budget = fit_defaults.DEFAULT_BUDGET_RGB_S if rgb else fit_defaults.DEFAULT_BUDGET_2D_S
            cap = cfg.fit.max_steps or (fit_defaults.MAX_STEPS_RGB if rgb else fit_defaults.MAX_STEPS_2D)
            cfg = cfg.replace(time_budget_s=budget, fit=dataclasses.replace(cfg.fit, max_steps=cap))
        return _enhance_image(image, cfg, clock, progress)
    protocol = protocol_of(cfg.init)
    if protocol is not None:
        explicit = {k for k, v in options.items() if v is not None} | _changed(config)
        cfg = _with_protocol(cfg, protocol, explicit, image)
    plan = plan_enhance(
        image, spacing=cfg.spacing, factors=cfg.factors, slice_thickness_mm=cfg.slice_thickness_mm, profile=cfg.profile
    )
    if protocol is not None:
        check_domain(plan, protocol, image.meta.source_path)
    with torch_threads(cfg.threads):
        dev = _device(cfg.device)
        clock.stage("plan", t0, c0)
        fitted = fit_network(image, plan, cfg, clock=clock, device=dev, progress=progress)
        out, unc, dc = infer_volume(image, plan, fitted, cfg, clock=clock, device=dev, progress=progress)
    clock.stage("total", t0, c0)
    hist = {"op": "enhance", "thick_axis": "XYZ"[plan.thick_axis], "factor": plan.factor}
    thick_z = float(plan.output_grid.spacing[2]) if plan.thick_axis == 2 else image.meta.slice_thickness
    sr = image.with_data(out[None], grid=plan.output_grid, history=image.meta.history + [hist], slice_thickness=thick_z)
    un = image.with_data(unc[None], grid=plan.output_grid, history=image.meta.history + [hist], slice_thickness=thick_z)
    cal_record = dc.pop("_calibration", {})
    calibration = cal_record.pop("_calibration", None)
    fg = _output_foreground(fitted.foreground, plan.output_grid.shape)
    info = _record(image, plan, fitted, dc, clock, cfg, device=dev)
    info["uncertainty"] = _uncertainty_record(unc, fg, cal_record, image, cfg)
    model = fitted.model.float().cpu().eval()
    return EnhanceResult(
        image=sr,
        uncertainty=un,
        info=info,
        loss_curve=list(fitted.fit.loss_curve),
        model=model,
        foreground=fg,
        calibration=calibration,
    )


def _enhance_image(
    image: Image, cfg: EnhanceConfig, clock: _Clock, progress: Callable[[str, int, int], None] | None
) -> EnhanceResult:
    """The 2D path (:mod:`medsr.selfsup.run2d`): the image learns from its own downscaled copy."""
    from medsr.errors import ConfigError
    from medsr.selfsup.plan2d import plan_image
    from medsr.selfsup.run2d import fit_image, infer_image

    t0, c0 = time.perf_counter(), time.process_time()
    if cfg.init not in (None, "auto"):
        raise ConfigError(
            image.meta.source_path,
            f"a 2D enhance learns from scratch; --init {cfg.init} is for thick-slice protocols",
            "to start a 2D image from a bundle use medsr predict -m BUNDLE --adapt SECONDS",
        )
    plan = plan_image(image, spacing=cfg.spacing, factors=cfg.factors, profile=cfg.profile)
    with torch_threads(cfg.threads):
        dev = _device(cfg.device)
        clock.stage("plan", t0, c0)
        fitted = fit_image(image, plan, cfg, clock=clock, device=dev, progress=progress)
        out, unc, dc = infer_image(image, plan, fitted, cfg, clock=clock, device=dev)
    clock.stage("total", t0, c0)
    hist = {"op": "enhance", "factors": list(plan.factors)}
    sr = image.with_data(out, grid=plan.output_grid, history=image.meta.history + [hist])
    un = image.with_data(unc, grid=plan.output_grid, history=image.meta.history + [hist], rgb=False)
    cal_record = dc.pop("_calibration", {})
    calibration = cal_record.pop("_calibration", None)
    fg = _output_foreground(fitted.foreground, plan.output_grid.shape)
    info = _record(image, plan, fitted, dc, clock, cfg, device=dev, method=METHOD_2D)
    info["fusion"] = {"orientations": fitted.orientations, "rule": "none", "tta": bool(cfg.tta)}
    info["uncertainty"] = _uncertainty_record(unc.max(axis=0), fg, cal_record, image, cfg)  # worst channel
    info["uncertainty"]["members"] = "4 flips" if cfg.tta else "none (tta off)"
    return EnhanceResult(
        image=sr,
        uncertainty=un,
        info=info,
        loss_curve=list(fitted.fit.loss_curve),
        model=fitted.model.float().cpu().eval(),
        foreground=fg,
        calibration=calibration,
    )


METHOD_3D = "medsr.selfsup (SMORE-style zero-data through-plane SR)"
METHOD_2D = "medsr.selfsup (ZSSR-style zero-data SR of a 2D image)"


def _output_foreground(mask: Any, shape: tuple[int, ...]) -> Any:
    """The input's foreground ``(X, Y, Z)`` on the output grid of ``shape`` (nearest voxel)."""
    import numpy as np

    from medsr.mask import mask_on_grid

    return np.ones(shape, bool) if mask is None else mask_on_grid(mask, shape)


def _uncertainty_record(unc: Any, fg: Any, cal: dict[str, Any], image: Image, cfg: EnhanceConfig) -> dict[str, Any]:
    """The sidecar's ``uncertainty`` section: what the map is, its calibration, the trust summary."""
    from medsr.trust import trust_record

    window = float(cal.get("window", 1.0))
    trust = trust_record(unc, fg, image.meta.modality, image.meta.units, window, cfg.unsure_threshold)
    calibrated = bool(cal.get("calibrated"))
    return {
        "map": "expected |error| (calibrated)" if calibrated else "spread over flips (uncalibrated)",
        "units": image.meta.units,
        "members": "4 flips x 2 orientations" if cfg.tta else "none (tta off)",
        "calibration": {k: v for k, v in cal.items() if k != "window"},
        "trust": trust,
    }


def _changed(config: EnhanceConfig | None) -> set[str]:
    """Fields of ``config`` that differ from the defaults (what the caller chose)."""
    if config is None:
        return set()
    default = EnhanceConfig()
    return {f.name for f in dataclasses.fields(config) if getattr(config, f.name) != getattr(default, f.name)}


def _with_protocol(cfg: EnhanceConfig, protocol: dict[str, Any], explicit: set[str], image: Image) -> EnhanceConfig:
    from medsr.selfsup.cohort import protocol_config

    return cfg.replace(**protocol_config(cfg, protocol, explicit, image.meta.slice_thickness))


def _record(
    image: Image,
    plan: Any,
    fitted: Any,
    dc: dict[str, Any],
    clock: _Clock,
    cfg: EnhanceConfig,
    *,
    device: str,
    method: str = METHOD_3D,
) -> dict[str, Any]:
    """The JSON-able account of one run (the sidecar's ``enhance`` section)."""
    return {
        "method": method,
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
            "time_budget_s": cfg.time_budget_s,
            "precision": fitted.precision,
            "device": device,
            "final_loss": fitted.fit.loss_curve[-1][1] if fitted.fit.loss_curve else None,
        },
        "fusion": {"orientations": fitted.orientations, "rule": "mean", "tta": bool(cfg.tta)},
        "intensity": fitted.scale.to_dict(),
        "data_consistency": dc,
        "seed": int(cfg.seed),
        "threads": fitted.hyper["threads"],
        "timings_s": clock.wall,
        "cpu_seconds": clock.cpu,
        "flops": {"train": fitted.fit.flops, "inference": dc.pop("_flops", 0.0)},
        "loss_curve": [[int(s), round(float(v), 6)] for s, v in fitted.fit.loss_curve],
        "versions": software_versions(),
    }
