"""Adapting a bundle to its input: fine-tune it on the image's own downscaled copy for a few
seconds before predicting (``medsr predict -m BUNDLE --adapt S``).

The zero-data path with a prior: the pairs are those of a 2D ``enhance``
(:class:`~medsr.selfsup.pairs.PlaneSampler`, ``joint`` and ``lowres``: the image degraded by the
bundle's factors with a rect aperture of one pixel, plus the image's own noise, kept on the
coarse grid since the bundle upsamples itself), the loop is enhance's
(:func:`~medsr.selfsup.run.train_within_budget`) at a fine-tuning learning rate, and the
intensities are the bundle's own normalisation. The bundle file is never changed; the adapted
copy lives in memory for one image. MZSR (Soh et al., CVPR 2020) showed that a learned start
makes such internal learning converge in a few steps.

Example:
    >>> import numpy as np
    >>> from medsr.image import Image
    >>> img = Image(np.random.default_rng(0).random((1, 96, 96, 1)).astype(np.float32) * 4000)
    >>> adapted = adapt_bundle(img, "xray-x4", steps=2)
    >>> adapted.meta.extra["adapted"]["steps"]
    2
"""

from __future__ import annotations

import copy
import logging
from dataclasses import replace
from typing import Any

import numpy as np

from medsr.errors import BundleError, InvalidImageError
from medsr.image import Image

log = logging.getLogger(__name__)

#: Learning rate of the fine-tuning (a quarter of a from-scratch fit's: the start is good).
ADAPT_LR = 3e-5
#: Fine patch edge (pixels); the coarse input is this over the factor.
ADAPT_PATCH = 128


def _check(image: Image, b: Any) -> None:
    path = image.meta.source_path
    if not image.is_2d:
        raise InvalidImageError(path, f"--adapt fine-tunes on 2D images, got shape {image.shape}", "drop --adapt")
    if b.descriptor.input_grid != "lr" or b.meta.neighbours > 0 or b.descriptor.spatial_dims != 2:
        raise BundleError(b.path, f"bundle {b.meta.name!r} cannot be adapted (2D LR-grid bundles only)", "drop --adapt")
    f = b.meta.factors[:2]
    if min(image.shape[0] // f[0], image.shape[1] // f[1]) < 16:
        raise InvalidImageError(path, f"{image.shape[:2]} pixels are too few to adapt a ×{f[0]} bundle", "drop --adapt")


def adapt_bundle(
    image: Image,
    bundle: Any,
    seconds: float = 20.0,
    *,
    steps: int | None = None,
    device: str = "auto",
    threads: int | None = None,
    seed: int = 0,
) -> Any:
    """A copy of ``bundle`` fine-tuned on ``image`` for ``seconds`` (or exactly ``steps``).

    Args:
        image: the 2D image ``(C, X, Y, 1)`` to be super-resolved (C the bundle's channels).
        bundle: a loaded bundle, a path or a shipped name.

    Returns:
        A :class:`~medsr.models.bundle.Bundle` whose ``meta.extra["adapted"]`` records the run.
    """
    from medsr.acquisition.noise_level import estimate_noise
    from medsr.acquisition.profile import SliceProfile
    from medsr.engine.device import resolve_device
    from medsr.engine.predict import _load, _normalizer
    from medsr.selfsup.config import EnhanceConfig
    from medsr.selfsup.fit import FitConfig
    from medsr.selfsup.pairs import PlaneSampler
    from medsr.selfsup.run import train_within_budget

    b = _load(bundle)
    _check(image, b)
    norm = _normalizer(image, b.meta.normalization)
    data = norm.forward(image.data) if norm is not None else image.data
    planes = np.ascontiguousarray(np.asarray(data, np.float32)[..., 0])  # (C, X, Y)
    noise = estimate_noise(image.with_data(image.data[:1]))
    window = 1.0 if norm is None else float(np.mean(np.asarray(norm.hi) - np.asarray(norm.lo)))
    fx, fy = (float(v) for v in b.meta.factors[:2])
    sampler = PlaneSampler(
        planes,
        {0: (fx, fx), 1: (fy, fy)},
        {0: SliceProfile("rect", fx), 1: SliceProfile("rect", fy)},
        patch=ADAPT_PATCH,
        seed=seed,
        noise_sigma=float(noise["sigma"]) / max(window, 1e-12),
        joint=True,
        lowres=True,
        stack=True,
    )
    cfg = EnhanceConfig(
        time_budget_s=float(seconds), steps=steps, seed=seed, threads=threads, device=device,
        fit=FitConfig(lr=ADAPT_LR, patch=ADAPT_PATCH, batch=8),
    )  # fmt: skip
    import torch

    torch.manual_seed(seed)
    model = copy.deepcopy(b.model).float().train()
    result, prec, n_threads = train_within_budget(model, sampler, cfg, str(resolve_device(device)), None)
    record = {
        "seconds": round(result.seconds, 2),
        "steps": result.steps,
        "lr": ADAPT_LR,
        "pairs": "the image downscaled by the bundle's factors (rect aperture of one pixel) plus its noise",
        "noise_sigma": noise["sigma"],
        "precision": prec,
        "threads": n_threads,
        "loss_first_last": [result.loss_curve[0][1], result.loss_curve[-1][1]] if result.loss_curve else [],
    }
    log.info("adapted %s in %d steps (%.1f s)", b.meta.name, result.steps, result.seconds)
    meta = replace(b.meta, extra={**b.meta.extra, "adapted": record})
    return replace(b, model=result.model.float().cpu().eval(), meta=meta)
