"""Supervised training of super-resolution networks on HR images degraded on the fly.

The public pieces, imported lazily (``import medsr.train`` loads neither torch nor SimpleITK):

* :func:`train` (``loop.py``): run or resume a training run folder → a bundle.
* :class:`TrainConfig`, :func:`load_config`, :func:`config_from_dict` (``config.py``): the typed
  YAML configuration.
* :class:`DegradationSampler` (``degradations.py``), :class:`PatchSampler` (``patches.py``):
  the on-the-fly data pipeline.

Example:
    >>> from medsr.train import config_from_dict
    >>> cfg = config_from_dict({"data": {"train": "hr/"}, "degradation": {"factors": [4, 4]}})
    >>> cfg.factors3
    (4.0, 4.0, 1.0)
"""

from __future__ import annotations

from medsr._lazy import lazy_exports

_LAZY = {
    "train": "medsr.train.loop:train",
    "TrainResult": "medsr.train.loop:TrainResult",
    "TrainConfig": "medsr.train.config:TrainConfig",
    "load_config": "medsr.train.config:load_config",
    "config_from_dict": "medsr.train.config:config_from_dict",
    "save_config": "medsr.train.config:save_config",
    "DegradationSampler": "medsr.train.degradations:DegradationSampler",
    "PatchSampler": "medsr.train.patches:PatchSampler",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
