"""nibabel images (NIfTI-1/2, MGH, Analyze …) as medsr images: RAS affine ↔ LPS grid.

nibabel's voxels are ``(X, Y, Z[, T])`` with ``img.affine`` mapping indices to RAS mm; a 4th axis
becomes channels. The result is an image of the same class with a float32 copy of the header
whose qform and sform codes are kept (or "scanner" where the input had none).

Example:
    >>> import numpy as np, nibabel as nib  # doctest: +SKIP
    >>> nii = nib.Nifti1Image(np.zeros((4, 4, 2), np.float32), np.diag([1, 1, 3, 1]))  # doctest: +SKIP
    >>> img, back = adapt_nibabel(nii)  # doctest: +SKIP
    >>> img.spacing.tolist(), back(img).affine[2, 2]  # doctest: +SKIP
    ([1.0, 1.0, 3.0], 3.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medsr.errors import InvalidImageError
from medsr.image import Image, ImageMeta


def adapt_nibabel(nii: Any) -> tuple[Image, Any]:
    """``(image, back)`` for a nibabel spatial image."""
    arr = np.asanyarray(nii.dataobj)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[3] > 4):
        raise InvalidImageError(
            nii.get_filename(),
            f"nibabel image of shape {arr.shape}",
            "give a 2D or 3D image (a 4th axis of ≤ 4 channels)",
        )
    channels_last = arr.ndim == 4
    vox = np.moveaxis(arr, 3, 0) if channels_last else arr[None]
    meta = ImageMeta(source_format="nibabel", source_path=nii.get_filename(), source_dtype=str(arr.dtype))
    image = Image.from_ras_affine(np.asarray(vox, dtype=np.float32), nii.affine, meta)

    def back(out: Image) -> Any:
        data = np.moveaxis(out.data, 0, 3) if channels_last else out.data[0]
        header = nii.header.copy()
        header.set_data_dtype(np.float32)
        new = type(nii)(np.ascontiguousarray(data, dtype=np.float32), out.to_ras_affine(), header)
        codes = _codes(nii)
        if codes is not None:
            new.set_qform(out.to_ras_affine(), codes[0])
            new.set_sform(out.to_ras_affine(), codes[1])
        return new

    return image, back


def _codes(nii: Any) -> tuple[int, int] | None:
    """The (qform, sform) codes to write: the input's, "scanner" (1) where it had none."""
    header = nii.header
    if not hasattr(header, "get_qform"):
        return None
    q, s = int(header["qform_code"]), int(header["sform_code"])
    return (q or 1, s or 1)
