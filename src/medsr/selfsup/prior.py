"""Warm starts for the plane network: a generic prior fitted on other scans, or a file.

:func:`train_prior` fits the network on sharp planes of other data at several slice settings
(``benchmarks/enhance.py --make-prior`` uses the chest X-ray and the PD MR DICOM series, which
no benchmark case uses). Measured against random initialisation with the same 20 s per-scan
budget it was worse (MNI ×4 +2.69 vs +3.53 dB, MNI ×5 gap +2.59 vs +2.67, CT ×4 +1.70 vs
+1.88), so medsr ships none: ``init="auto"`` finds no ``medsr/data/priors/planar_residual.
safetensors`` and starts from random weights. A prior loads only when its recorded network
configuration matches the requested one.
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PRIOR_NAME = "planar_residual.safetensors"


def shipped_prior() -> Path | None:
    """Path of the shipped prior, or ``None`` when this install has none."""
    try:
        p = resources.files("medsr") / "data" / "priors" / PRIOR_NAME
    except (ModuleNotFoundError, TypeError):
        return None
    path = Path(str(p))
    return path if path.is_file() else None


def save_prior(model: Any, path: str | Path, meta: dict[str, Any] | None = None) -> Path:
    """Write ``model``'s weights and configuration (safetensors, no pickle)."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().float().contiguous().cpu() for k, v in model.state_dict().items()}
    header = {"config": json.dumps(model.config), "meta": json.dumps(meta or {})}
    save_file(tensors, str(path), metadata=header)
    return Path(path)


def load_prior(model: Any, init: str | Path, plan: Any = None) -> str:
    """Load weights into ``model``; returns a description for the sidecar.

    ``init="auto"`` uses the shipped prior when present and compatible, else keeps the random
    initialisation (``"random"``). An explicit path must exist and match.
    """
    from medsr.errors import BundleError

    path = shipped_prior() if init == "auto" else Path(init)
    if path is None:
        return "random"
    if not path.is_file():
        raise BundleError(path, "prior weights file not found", "give an existing .safetensors file")
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as fh:
        cfg = json.loads((fh.metadata() or {}).get("config", "{}"))
    if cfg != model.config:
        if init == "auto":
            log.info("shipped prior %s does not match network %s; random init", cfg, model.config)
            return "random"
        raise BundleError(
            path, f"prior was made for network {cfg}, not {model.config}", "use the same network settings or init=None"
        )
    model.load_state_dict(load_file(str(path)))
    return f"prior:{path.name}"


def train_prior(
    planes: list[Any],
    *,
    seconds: float = 300.0,
    settings: list[tuple[float, float]] | None = None,
    net: dict[str, Any] | None = None,
    seed: int = 0,
    precision: str = "auto",
) -> Any:
    """Fit a generic warm start on sharp planes of other scans over a range of slice settings.

    Args:
        planes: normalised sharp ``(N, A, B)`` stacks (both in-plane axes fine).
        seconds: training time.
        settings: ``(f, t)`` pairs (spacing and thickness in in-plane samples); default a range
            from ×2 to ×9 with and without gaps.
        net: network options (default: :class:`~medsr.models.planar_residual.PlanarResidualNet`'s).

    Returns:
        ``(model, fit_result)``: the trained
        :class:`~medsr.models.planar_residual.PlanarResidualNet` (CPU, eval mode) and its
        :class:`~medsr.selfsup.fit.FitResult`.
    """
    import numpy as np
    import torch

    from medsr.acquisition.profile import SliceProfile
    from medsr.models.planar_residual import PlanarResidualNet
    from medsr.selfsup.fit import FitConfig, fit, resolve_precision
    from medsr.selfsup.pairs import PlaneSampler

    sets = settings or [(2.0, 2.0), (3.0, 3.0), (4.0, 4.0), (5.0, 3.0), (5.0, 5.0), (6.5, 6.5), (8.8, 8.8), (8.8, 5.3)]
    samplers = [
        PlaneSampler(p, {0: s, 1: s}, SliceProfile("rect", 1.0), patch=64, seed=seed + i, max_bytes=64 << 20)
        for i, (p, s) in enumerate((p, s) for p in planes for s in sets)
    ]

    class _Mix:  # one batch from a randomly chosen sampler
        rng = np.random.default_rng(seed)

        def batch(self, size: int) -> Any:
            return samplers[int(self.rng.integers(len(samplers)))].batch(size)

    torch.manual_seed(seed)
    model = PlanarResidualNet(**(net or {}))
    res = fit(
        model,
        _Mix(),
        time_budget_s=seconds,
        config=FitConfig(),
        precision=resolve_precision(precision, "cpu"),
        seed=seed,
    )
    log.info("prior: %d steps, final loss %.4f", res.steps, res.loss_curve[-1][1])
    return res.model.float().cpu().eval(), res
