"""medsr.models: architectures (one per file), their registry and safe model bundles.

Names resolve lazily, so ``import medsr.models`` loads neither torch nor any architecture.
"""

from __future__ import annotations

from medsr._lazy import lazy_exports

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


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
