"""The typed configuration of one ``enhance`` run (instead of 18-argument chains).

Defaults live where what they configure lives: the training budget and the fit's
hyperparameters in :mod:`medsr.selfsup.fit` (:data:`~medsr.selfsup.fit.DEFAULT_BUDGET_S`,
:class:`~medsr.selfsup.fit.FitConfig`), the network's in its constructor
(:class:`medsr.models.planar_residual.PlanarResidualNet`), flip averaging in
:mod:`medsr.selfsup.infer` (:data:`~medsr.selfsup.infer.DEFAULT_TTA`).

Example:
    >>> cfg = EnhanceConfig().replace(steps=10, factors=(1, 1, 4))
    >>> cfg.steps, cfg.time_budget_s, cfg.tta
    (10, 90.0, True)
    >>> try:
    ...     cfg.replace(stpes=10)
    ... except Exception as err:
    ...     print(type(err).__name__)
    ConfigError
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from medsr.acquisition.profile import SliceProfile
from medsr.errors import ConfigError
from medsr.selfsup.fit import DEFAULT_BUDGET_S, FitConfig
from medsr.selfsup.infer import DEFAULT_TTA


@dataclass(frozen=True)
class EnhanceConfig:
    """Everything one ``enhance`` run is told (see :func:`medsr.selfsup.enhance.enhance`).

    Attributes:
        spacing / factors: the target grid (mm, X Y Z / per-axis factors); default isotropic at
            the in-plane spacing, field of view preserved.
        slice_thickness_mm: acquired thickness (default ``meta.slice_thickness``, else the spacing).
        profile: ``"auto"`` (default: estimated from the scan and used where it finds overlapping
            slices, else rect at the nominal thickness; docs/enhance.md), ``"rect"``,
            ``"gaussian"`` (thickness = FWHM), a kernel file or a :class:`SliceProfile`.
        time_budget_s / steps: training time (s), or a fixed number of steps (exactly repeatable).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``; threads: torch intra-op threads (default:
            whichever of 1 and torch's count trains faster); seed: sampling and initialisation.
        workdir: folder for memory-mapped outputs (outputs larger than memory).
        net: network options over :class:`~medsr.models.planar_residual.PlanarResidualNet`'s defaults.
        precision: ``"auto"``, ``"bfloat16"`` or ``"float32"`` (:mod:`medsr.vocabulary`).
        tta: average the network over flipped planes (×4 inference time).
        block_size / slab: plane-tile width and planes per slab at inference (memory only).
        init: ``"auto"`` (a shipped prior; none ships), ``None`` (random) or a prior file.
        match_noise: give the training inputs the scan's own noise level (estimated from its
            in-plane planes); experimental and off by default until measured (docs/enhance.md).
        unsure_threshold: expected |error| (image units) above which a voxel counts as unsure
            in the trust summary (default: 20 HU for CT, else 5 % of the intensity window).
        fit: the fit's hyperparameters (batch, patch, learning rate, loss …).
    """

    spacing: Sequence[float] | None = None
    factors: Sequence[float] | None = None
    slice_thickness_mm: float | None = None
    profile: str | SliceProfile = "auto"
    time_budget_s: float = DEFAULT_BUDGET_S
    steps: int | None = None
    device: str = "auto"
    threads: int | None = None
    seed: int = 0
    workdir: str | os.PathLike[str] | None = None
    net: dict[str, Any] = field(default_factory=dict)
    precision: str = "auto"
    tta: bool = DEFAULT_TTA
    block_size: int | None = None
    slab: int | None = None
    init: str | None = "auto"
    match_noise: bool = False
    unsure_threshold: float | None = None
    fit: FitConfig = field(default_factory=FitConfig)

    def replace(self, **changes: Any) -> EnhanceConfig:
        """A copy with ``changes``; ``None`` for ``time_budget_s`` keeps the default.

        Raises:
            ConfigError: an option that does not exist.
        """
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(None, f"unknown enhance option(s) {unknown}", f"use {', '.join(sorted(known))}")
        if changes.get("time_budget_s", 0) is None:
            changes["time_budget_s"] = DEFAULT_BUDGET_S
        if changes.get("net") is None and "net" in changes:
            changes["net"] = {}
        return dataclasses.replace(self, **changes)
