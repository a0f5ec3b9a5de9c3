"""The expected-error map of a trained bundle, calibrated on its validation crops.

After the last validation, each crop is restored by the network and by its 180° rotation (the
members of ``predict --uncertainty``: :func:`medsr.calibration.flip_members`, ``pair=True``);
the members' spread, the output's
gradient magnitude and its departure from the cubic B-spline, against the true ``|error|``
inside the referee's mask, fit a :class:`medsr.calibration.Calibration` (alternate crops
cross-fit its table). It is stored in the bundle's metadata (``extra["calibration"]``, in the
bundle's normalised units) and read by ``medsr predict --uncertainty``. Bundles have no
data-consistency projection, so the ``dc`` feature is zero on both sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from medsr.calibration import FEATURES, Calibration, error_features, fit_calibration, flip_members


def _net(model: Any, device: Any) -> Any:
    import torch

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(x[None]).to(device))[0].float().cpu().numpy()

    return run


def calibrate_crops(model: Any, crops: Sequence[Any], cfg: Any, device: Any = "cpu") -> Calibration | None:
    """Fit the map on the validation crops (``None`` when there are fewer than two)."""
    from medsr.metrics import reference_mask, reference_range
    from medsr.train.patches import model_factors
    from medsr.train.validate import centre_output

    if len(crops) < 2:
        return None
    was_training = model.training
    model.eval()
    feats: dict[str, list[np.ndarray]] = {k: [] for k in FEATURES}
    errs, groups = [], []
    net = _net(model, device)
    try:
        for i, crop in enumerate(crops):
            axes = tuple(range(1, crop.inp.ndim))[:2]
            c = crop.target.shape[0]
            mean, spread = flip_members(lambda x, c=c: centre_output(net(x), cfg, c), crop.inp, axes, pair=True)
            fe = error_features(spread, mean, mean, crop.bspline, axes)
            lo, hi = reference_range(crop.target)
            tgt = crop.target[..., None] if crop.target.ndim == 3 else crop.target
            m = np.asarray(reference_mask(tgt, hi - lo, lo, [float(f) for f in model_factors(cfg)]), bool)
            m = m.reshape(crop.target.shape) if m.size == crop.target.size else np.ones(crop.target.shape, bool)
            for k in FEATURES:
                feats[k].append(fe[k][m])
            errs.append(np.abs(mean - crop.target)[m])
            groups.append(np.full(int(m.sum()), i % 2))
    finally:
        model.train(was_training)
    return fit_calibration(
        {k: np.concatenate(v) for k, v in feats.items()}, np.concatenate(errs), np.concatenate(groups)
    )
