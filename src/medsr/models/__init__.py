"""medsr.models: architectures (one per file), their registry and safe model bundles.

Names resolve lazily, so ``import medsr.models`` loads neither torch nor any architecture.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "ArchDescriptor": "medsr.models.descriptor:ArchDescriptor",
    "get_arch": "medsr.models.registry:get_arch",
    "list_archs": "medsr.models.registry:list_archs",
    "build": "medsr.models.registry:build",
    "register": "medsr.models.registry:register",
    "BundleMeta": "medsr.models.bundle_meta:BundleMeta",
    "Bundle": "medsr.models.bundle:Bundle",
    "save_bundle": "medsr.models.bundle:save_bundle",
    "load_model": "medsr.models.bundle:load_model",
    "read_bundle_meta": "medsr.models.bundle:read_bundle_meta",
    "pixel_shuffle_nd": "medsr.models.shuffle:pixel_shuffle_nd",
    "pixel_unshuffle_nd": "medsr.models.shuffle:pixel_unshuffle_nd",
    "PixelShuffleND": "medsr.models.shuffle:PixelShuffleND",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'medsr.models' has no attribute {name!r}")
    module, attr = target.split(":")
    value = getattr(import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
