"""Validation during training: fixed held-out crops, scored against cubic B-spline.

Each validation image gives ``run.val_crops`` crops centred in its foreground (a fixed seed, so
every validation sees the same crops). A crop's LR input is made with the *reference*
degradation (rect profile, thickness = LR spacing: the mean of ``f`` consecutive voxels, as
``../shared/referee`` does), not with the random training models. The network's output and
cubic B-spline interpolation (:func:`medsr.baselines.upsample`) of the same LR crop are scored
with PSNR and SSIM under the referee's conventions (data range p0.1–p99.9 of the HR crop,
foreground = HR above 10 % of that range dilated by 2 voxels, ``f`` border voxels left out
along degraded axes; SSIM over the whole crop). Both are invariant to the linear normaliser,
so scores on normalised crops equal scores in physical units. Reported figures are the means
over crops.

Example:
    >>> import numpy as np
    >>> hr = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(1, 64, 64)
    >>> s = referee_scores(hr, hr + 0.01, (2, 2))
    >>> round(s["psnr"], 1)
    40.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medsr.errors import MedsrError
from medsr.train.config import AXES, TrainConfig
from medsr.train.data import TrainImage
from medsr.train.degradations import canonical_lr
from medsr.train.patches import PatchSampler, model_factors


@dataclass
class ValCrop:
    """One validation crop in the network's layout (see :mod:`medsr.train.patches`)."""

    name: str
    inp: np.ndarray
    target: np.ndarray
    bspline: np.ndarray
    baseline: dict[str, float]


def crop_size(cfg: TrainConfig) -> list[int]:
    """Crop size along the network axes, a multiple of the factors."""
    size = list(cfg.run.val_crop_size)
    if cfg.patches.mode == "3d" and len(size) == 2:  # a plane size given: a modest cube
        return [min(64, size[0])] * 3
    if cfg.patches.mode != "3d" and len(size) == 3:
        return size[:2]
    return size


def build_val_crops(images: Sequence[TrainImage], cfg: TrainConfig) -> list[ValCrop]:
    """Fixed validation crops of ``images`` with their B-spline baselines precomputed."""
    from dataclasses import replace

    rng = np.random.default_rng([cfg.run.seed, 7919])
    f3 = np.asarray(cfg.factors3)
    fi = np.rint(f3).astype(int)
    out = []
    for _i, img in enumerate(images):
        size = np.asarray(crop_size(cfg))
        axes = [0, 1, 2] if cfg.patches.mode == "3d" else [a for a in range(3) if a != slice_axis_index(cfg)]
        room = np.array([img.shape[a] // fi[a] * fi[a] for a in axes])
        size = np.maximum(np.minimum(size, room), [fi[a] for a in axes])
        vcfg = replace(
            cfg, patches=replace(cfg.patches, size=[int(s) for s in size], augment=False, foreground_fraction=1.0)
        )
        sampler = PatchSampler([img], vcfg)
        for j in range(cfg.run.val_crops):
            centre = sampler._centre(img, rng)
            if img.lr is not None:
                hr, lr = sampler._paired(img, centre)
            else:
                idx = sampler._region(centre, np.zeros(3, int), img.shape)
                hr = img.data[np.ix_(np.arange(img.data.shape[0]), *idx)]
                lr = canonical_lr(hr, img.spacing, f3)
            out.append(_make_crop(f"{Path(img.path).name}:{j}", sampler, hr, lr, img.spacing, f3, cfg))
    return out


def _make_crop(
    name: str,
    sampler: PatchSampler,
    hr: np.ndarray,
    lr: np.ndarray,
    spacing: np.ndarray,
    f3: np.ndarray,
    cfg: TrainConfig,
) -> ValCrop:
    from medsr.baselines import upsample
    from medsr.image import Image, ImageMeta

    lr_img = Image(
        lr,
        spacing=spacing * f3,
        origin=(f3 - 1) / 2 * spacing,
        meta=ImageMeta(spatial_dims=3 if lr.shape[3] > 1 else 2),
    )
    up = upsample(lr_img, factors=tuple(f3), method="bspline").data
    c = hr.shape[0]
    target = centre_output(sampler.layout(hr), cfg, c)
    spline = centre_output(sampler.layout(up), cfg, c)
    return ValCrop(name, sampler.layout(lr), target, spline, referee_scores(target, spline, model_factors(cfg)))


def referee_scores(reference: np.ndarray, prediction: np.ndarray, factors: Sequence[int]) -> dict[str, float]:
    """PSNR (dB) and SSIM of ``prediction`` against ``reference``, both ``(C, *S)`` in the
    network layout, computed by :mod:`medsr.metrics` (the conventions of ``../shared/referee``
    that ``medsr evaluate`` uses), so bundle metrics compare with ``medsr evaluate``."""
    from medsr.metrics import psnr, reference_mask, reference_range, ssim

    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(prediction, dtype=np.float64)
    if a.ndim == 3:  # (C, H, W) planes → (C, H, W, 1)
        a, b = a[..., None], b[..., None]
    lo, hi = reference_range(a)
    dr = max(hi - lo, 1e-12)
    mask = reference_mask(a, dr, lo, [float(f) for f in factors])
    if not mask.any():
        mask[...] = True
    try:
        s = ssim(a, b, dr)[0]
    except MedsrError:  # too thin for a 3-voxel window
        s = float("nan")
    return {"psnr": float(min(psnr(a, b, mask, dr), 200.0)), "ssim": float(s)}


def validate(model: Any, crops: Sequence[ValCrop], cfg: TrainConfig, device: Any) -> dict[str, float]:
    """Mean PSNR/SSIM of ``model`` and of B-spline over ``crops`` (model set back to train mode)."""
    import torch

    mf = model_factors(cfg)
    net, psnr, ssim = [], [], []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for crop in crops:
                x = torch.from_numpy(crop.inp[None]).to(device)
                y = model(x)[0].float().cpu().numpy()
                y = centre_output(y, cfg, crop.target.shape[0])
                s = referee_scores(crop.target, y, mf)
                psnr.append(s["psnr"])
                ssim.append(s["ssim"])
                net.append(crop.baseline)
    finally:
        model.train(was_training)
    return {
        "val_psnr": float(np.mean(psnr)),
        "val_ssim": float(np.nanmean(ssim)),
        "val_psnr_bspline": float(np.mean([b["psnr"] for b in net])),
        "val_ssim_bspline": float(np.nanmean([b["ssim"] for b in net])),
        "val_crops": len(crops),
    }


def centre_output(y: np.ndarray, cfg: TrainConfig, channels: int) -> np.ndarray:
    """The centre slice's channels of a 2.5d slab output (the output itself otherwise)."""
    if cfg.patches.mode != "2.5d" or y.shape[0] == channels:
        return y
    k = cfg.patches.neighbours
    return y[k * channels : (k + 1) * channels]


def slice_axis_index(cfg: TrainConfig) -> int | None:
    return None if cfg.patches.mode == "3d" else AXES.index(cfg.patches.slice_axis)
