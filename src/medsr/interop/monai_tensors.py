"""MONAI ``MetaTensor``: channel-first voxels with ``.affine`` in ``meta["space"]`` (RAS default).

``(C, H, W[, D])`` as MONAI's transforms expect; a tensor straight from ``LoadImage`` (no
channel axis) is recognised by ``meta["spatial_shape"]`` and returned without one. The result
is a MetaTensor on the input's device with the input's meta, its affine and spatial shape
replaced, in the same space (RAS or LPS).

Example:
    >>> import torch; from monai.data import MetaTensor  # doctest: +SKIP
    >>> img, back = adapt_monai(MetaTensor(torch.zeros(1, 4, 4, 2)))  # doctest: +SKIP
    >>> back(img).affine.shape  # doctest: +SKIP
    torch.Size([4, 4])
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from medsr.geometry import LPS_TO_RAS, affine_4x4
from medsr.image import Image, ImageMeta


def adapt_monai(tensor: Any) -> tuple[Image, Any]:
    """``(image, back)`` for a MONAI MetaTensor."""
    arr = tensor.detach().cpu().as_tensor().numpy() if hasattr(tensor, "as_tensor") else tensor.detach().cpu().numpy()
    meta_in = dict(tensor.meta)
    spatial = len(meta_in.get("spatial_shape", ())) or arr.ndim - 1
    no_channel = arr.ndim == spatial
    vox = arr[None] if no_channel else arr
    two_d = vox.ndim == 3
    if two_d:
        vox = vox[..., None]
    lps_space = str(meta_in.get("space", "RAS")).upper() == "LPS"
    raw = np.asarray(tensor.affine.detach().cpu().numpy() if hasattr(tensor.affine, "numpy") else tensor.affine)
    affine = affine_4x4(raw)
    ras = LPS_TO_RAS @ affine if lps_space else affine
    path = meta_in.get("filename_or_obj")
    meta = ImageMeta(source_format="monai", source_path=str(path) if path else None, spatial_dims=2 if two_d else 3)
    image = Image.from_ras_affine(np.asarray(vox, dtype=np.float32), ras, meta)

    def back(out: Image) -> Any:
        import torch
        from monai.data import MetaTensor

        data = out.data[..., 0] if two_d else out.data
        data = data[0] if no_channel else data
        aff = LPS_TO_RAS @ out.to_ras_affine() if lps_space else out.to_ras_affine()
        if two_d and raw.shape == (3, 3):  # give back the 3×3 it came with
            aff = aff[[0, 1, 3]][:, [0, 1, 3]]
        meta_out = copy.deepcopy({k: v for k, v in meta_in.items() if k not in ("affine",)})
        meta_out["spatial_shape"] = np.asarray(out.shape[:2] if two_d else out.shape)
        values = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32)).to(tensor.device)
        return MetaTensor(values, affine=torch.as_tensor(aff, dtype=tensor.affine.dtype), meta=meta_out)

    return image, back
