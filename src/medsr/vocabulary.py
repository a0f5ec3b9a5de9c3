"""The one vocabulary of loss and precision names, shared by ``train``, ``enhance`` and the engine.

* losses: ``l1``, ``mse`` (``l2`` is accepted as an alias) and ``charbonnier`` (ε = 1e-3;
  Lai et al., "Deep Laplacian Pyramid Networks", CVPR 2017);
* precisions: ``float32`` and ``bfloat16`` (``fp32``/``bf16`` are accepted as aliases),
  plus ``auto`` where a caller picks bfloat16 when the hardware has it.

Example:
    >>> check_loss("L2"), check_precision("bf16")
    ('mse', 'bfloat16')
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from medsr.errors import ConfigError

LOSSES = ("l1", "mse", "charbonnier")
PRECISIONS = ("float32", "bfloat16")
_LOSS_ALIASES = {"l2": "mse"}
_PRECISION_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "float": "float32"}


def check_loss(name: str) -> str:
    """The canonical loss name for ``name``; :class:`ConfigError` for an unknown one."""
    key = str(name).lower()
    key = _LOSS_ALIASES.get(key, key)
    if key not in LOSSES:
        raise ConfigError(None, f"unknown loss {name!r}", f"use one of {', '.join(LOSSES)}")
    return key


def check_precision(name: str, allow_auto: bool = False) -> str:
    """The canonical precision name for ``name`` (``auto`` kept when ``allow_auto``)."""
    key = str(name).lower()
    key = _PRECISION_ALIASES.get(key, key)
    if key == "auto" and allow_auto:
        return key
    if key not in PRECISIONS:
        raise ConfigError(None, f"unknown precision {name!r}", f"use one of {', '.join(PRECISIONS)}")
    return key


def error_loss(err: Any, name: str) -> Any:
    """The mean loss of an error tensor ``prediction − target``."""
    key = check_loss(name)
    if key == "mse":
        return (err * err).mean()
    if key == "charbonnier":
        return (err * err + 1e-6).sqrt().mean()
    return err.abs().mean()


def loss_fn(name: str) -> Callable[[Any, Any], Any]:
    """``loss(prediction, target)`` for a loss name."""
    key = check_loss(name)
    return lambda a, b: error_loss(a - b, key)
