"""Cohort mode: the network one ``enhance`` run fitted, saved as a bundle and reused.

A study of many thick-slice scans from one protocol need not relearn nearly the same network
for every scan. :func:`save_model` writes the fitted network of an
:class:`~medsr.selfsup.enhance.EnhanceResult` as a regular bundle (``arch="planar_residual"``)
whose metadata carries the plan it was fitted for: thick axis, factor, slice profile, the
training degradation in in-plane samples, intensity normalisation (percentile, refitted per
scan) and the spacing range. Then, for another scan of the protocol:

* ``enhance(scan, init="protocol.safetensors", steps=0)`` (``medsr predict -m``) applies it with
  the same data-consistency projection and uncertainty, without training;
* ``enhance(scan, init="protocol.safetensors", time_budget_s=10)`` (``medsr enhance --init``)
  fine-tunes it on the scan first, at a quarter of the learning rate and without warm-up.

Settings a caller leaves out (profile, slice thickness, target factors) come from the bundle's
plan; a scan whose spacing or slice setting lies outside the bundle's range gets one warning.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from medsr.acquisition.profile import SliceProfile
from medsr.errors import BundleError

log = logging.getLogger(__name__)

PLAN_KEY = "enhance_plan"
SPACING_TOLERANCE = 0.15  # the spacing range of a one-scan bundle: its spacing ± 15 %
SETTING_TOLERANCE = 0.10  # thick spacing and thickness in in-plane samples: ± 10 %
FINE_TUNE_LR_SCALE = 0.25


def save_model(result: Any, path: str | os.PathLike[str], *, name: str | None = None) -> Path:
    """Write ``result``'s fitted network and plan as a bundle (``.safetensors``, atomically).

    Example:
        >>> import numpy as np, tempfile, pathlib
        >>> from medsr.image import Image
        >>> from medsr.selfsup.enhance import enhance
        >>> vol = np.random.default_rng(0).random((1, 16, 16, 5)).astype(np.float32)
        >>> res = enhance(Image(vol, spacing=(1, 1, 3)), steps=2, net={"blocks": 1, "channels": 8})
        >>> path = save_model(res, pathlib.Path(tempfile.mkdtemp()) / "protocol.safetensors")
        >>> from medsr.models.zoo import find_model
        >>> find_model(path).task
        'through-plane Z ×3 (enhance protocol), grey'
    """
    from medsr.models.bundle import save_bundle
    from medsr.models.bundle_meta import BundleMeta

    if result.model is None:
        raise BundleError(str(path), "this enhance result carries no network", "run enhance again and save its result")
    info = result.info
    plan = {
        "thick_axis": info["thick_axis"],
        "factor": info["factor"],
        "factors": info["factors"],
        "input_spacing_mm": info["input_spacing_mm"],
        "input_slice_thickness_mm": info["input_slice_thickness_mm"],
        "profile": info["profile"],
        "train_factors": info["train_factors"],
        "noise": info.get("noise", {}),
    }
    spacing = info["input_spacing_mm"]
    training = info["training"]
    p = Path(path)
    meta = BundleMeta(
        arch="planar_residual",
        factors=(1, 1),
        channels=1,
        arch_kwargs=dict(result.model.config),
        modality=[info["input"]["modality"]] if info["input"].get("modality") not in (None, "OT") else [],
        normalization={**info["intensity"], "per_image": True},
        degradations={"profile": info["profile"], "train_factors": info["train_factors"]},
        spacing_range_mm=[[s * (1 - SPACING_TOLERANCE), s * (1 + SPACING_TOLERANCE)] for s in spacing],
        training_data=(
            f"zero-data: fitted by medsr enhance on {info['input'].get('path') or 'one scan'} only "
            f"({training['steps']} steps, {training['time_budget_s']:.0f} s budget)"
        ),
        metrics={
            "final_loss": training.get("final_loss"),
            "data_consistency": info["data_consistency"].get("relative_error_after"),
        },
        license="that of the scan it was fitted on",
        name=name or p.name.split(".")[0],
        description=(
            f"enhance protocol: thick axis {plan['thick_axis']} ×{plan['factor']:.3g}, "
            f"{info['profile']['kind']} profile"
        ),
        extra={PLAN_KEY: plan},
    )
    return save_bundle(result.model, p, meta)


def protocol_of(init: Any) -> dict[str, Any] | None:
    """The plan stored in an enhance bundle ``init`` (a path), or ``None`` for anything else."""
    if not isinstance(init, (str, os.PathLike)) or not str(init).endswith(".safetensors") or init == "auto":
        return None
    from medsr.models.bundle import read_bundle_meta

    try:
        meta = read_bundle_meta(init)
    except BundleError as exc:
        if "not a medsr bundle" in exc.reason:
            return None  # a prior file (medsr.selfsup.prior)
        raise
    plan = meta.extra.get(PLAN_KEY)
    if not isinstance(plan, dict):
        raise BundleError(
            str(init),
            f"bundle {meta.name or meta.arch} was not made by enhance --save-model",
            "give a bundle from enhance --save-model, or use medsr predict",
        )
    return plan


def protocol_config(config: Any, plan: dict[str, Any], explicit: set[str], header_thickness: float | None) -> Any:
    """The changes to ``config`` that give the bundle's target factors, profile and thickness
    (the last only for a scan whose header has none) where not ``explicit``; fine-tuning
    (steps ≠ 0) runs at a quarter of the learning rate and without warm-up."""
    changes: dict[str, Any] = {}
    if not explicit & {"factors", "spacing"}:
        changes["factors"] = tuple(plan["factors"])
    if "profile" not in explicit:
        prof = plan["profile"]
        kernel = prof.get("kernel_mm")
        changes["profile"] = (
            SliceProfile("kernel", prof["thickness_mm"], (tuple(kernel[0]), tuple(kernel[1])))
            if kernel
            else prof["kind"]
        )
    if "slice_thickness_mm" not in explicit and not plan["profile"].get("kernel_mm") and not header_thickness:
        changes["slice_thickness_mm"] = float(plan["input_slice_thickness_mm"])
    if config.steps != 0 and "fit" not in explicit:
        changes["fit"] = replace(config.fit, lr=config.fit.lr * FINE_TUNE_LR_SCALE, warmup=0.0)
    return changes


def check_domain(plan: Any, protocol: dict[str, Any], where: str | None) -> None:
    """One warning when the scan's spacing or slice setting lies outside the bundle's range."""
    problems = []
    for axis, (s, s0) in enumerate(zip(plan.spacing_in, protocol["input_spacing_mm"], strict=True)):
        if abs(s - s0) > SPACING_TOLERANCE * s0:
            problems.append(f"{'XYZ'[axis]} spacing {s:.3g} mm (bundle {s0:.3g})")
    for axis, (f, t) in plan.train_factors.items():
        ref = protocol["train_factors"].get("XYZ"[axis])
        if ref and (
            abs(f - ref["f"]) > SETTING_TOLERANCE * ref["f"]
            or abs(t - ref["t"]) > SETTING_TOLERANCE * max(ref["t"], 1e-6)
        ):
            problems.append(
                f"slice setting along {'XYZ'[axis]} f={f:.3g}, t={t:.3g} (bundle f={ref['f']:.3g}, t={ref['t']:.3g})"
            )
    if plan.profile.kind != protocol["profile"]["kind"]:
        problems.append(f"{plan.profile.kind} profile (bundle {protocol['profile']['kind']})")
    if problems:
        log.warning(
            "%s: outside the protocol bundle's range: %s; expect a lower gain, or fine-tune with --init",
            where or "scan",
            "; ".join(problems),
        )
