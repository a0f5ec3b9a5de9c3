"""medsr: super-resolution for medical images that says how far each output can be trusted.

The public API mirrors the command line and is imported lazily, so ``import medsr``
loads neither torch nor SimpleITK::

    import medsr
    img = medsr.read("scan.nii.gz")               # Image: (C, X, Y, Z) float32 + LPS geometry
    lr = medsr.degrade(img, factors=(1, 1, 4))     # simulate a thick-slice acquisition
    up = medsr.upsample(lr, factors=(1, 1, 4), method="bspline")
    print(medsr.evaluate(img, [up]))
    medsr.write(up, "upsampled.nii.gz")

The verbs also take numpy arrays (``input_spacing=``), torch tensors, SimpleITK, nibabel,
TorchIO and MONAI images, and return the kind they were given (:mod:`medsr.interop`).
"""

from __future__ import annotations

from medsr._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> "module:attribute", resolved on first use
_LAZY = {
    "Image": "medsr.image:Image",
    "ImageMeta": "medsr.image:ImageMeta",
    "Grid": "medsr.geometry:Grid",
    "read": "medsr.io:read",
    "write": "medsr.io:write",
    "degrade": "medsr.verbs:degrade",
    "upsample": "medsr.verbs:upsample",
    "evaluate": "medsr.verbs:evaluate",
    "foreground_mask": "medsr.mask:foreground_mask",
    "enhance": "medsr.verbs:enhance",
    "load_model": "medsr.models.bundle:load_model",
    "predict": "medsr.verbs:predict",
    "to_image": "medsr.interop:to_image",
    "list_models": "medsr.models.zoo:list_models",
}

__all__ = sorted(_LAZY) + ["__version__"]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, extra=("__version__",))
