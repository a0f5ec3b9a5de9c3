"""NIfTI, NRRD and MetaImage (MHA/MHD) through SimpleITK, geometry kept exactly.

SimpleITK and medsr share the LPS convention, so spacing, origin and direction copy over
unchanged (see :mod:`medsr.sitk_bridge`). Files with more than three axes are refused
unless the extra axes have length 1; vector pixels become channels.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> from medsr.image import Image
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.nrrd"
    >>> write_sitk(Image(np.ones((1, 2, 3, 4), np.float32), spacing=(1, 2, 3)), path, np.dtype("int16"))
    >>> img = read_sitk(path, "nrrd")
    >>> img.shape, img.spacing.tolist(), img.meta.source_dtype
    ((2, 3, 4), [1.0, 2.0, 3.0], 'int16')
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from medsr.errors import GeometryError, InvalidImageError, ReadError
from medsr.image import Image, ImageMeta
from medsr.io.dtypes import cast_values

logger = logging.getLogger(__name__)

_MAX_META_KEYS = 64
_MAX_META_CHARS = 256


@contextlib.contextmanager
def quiet_itk() -> Iterator[None]:
    """Keep ITK from printing to stderr (the library logs, it never prints).

    ITK's warnings are switched off, and what its C code writes to file descriptor 2 anyway
    (niftilib, VNL) is caught in a temporary file and logged at debug level.
    """
    import sys
    import tempfile

    import SimpleITK as sitk

    previous = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sitk.ProcessObject.SetGlobalWarningDisplay(previous)
            sink.seek(0)
            chatter = sink.read(4096).decode(errors="replace").strip()
            if chatter:
                logger.debug("ITK said: %s", " ".join(chatter.split()))


def guess_modality(arr: np.ndarray) -> tuple[str, str]:
    """``("CT", "HU")`` for integer volumes whose values look like Hounsfield units, else OT."""
    if arr.size and np.issubdtype(arr.dtype, np.signedinteger):
        sample = arr.reshape(-1)[:: max(1, arr.size // 200_000)]
        lo, p1 = float(sample.min()), float(np.percentile(sample, 1))
        if -3100 <= lo and p1 <= -500:
            return "CT", "HU"
    return "OT", "a.u."


def _metadata(reader: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key in list(reader.GetMetaDataKeys())[:_MAX_META_KEYS]:
        try:
            value = str(reader.GetMetaData(key))
        except (RuntimeError, UnicodeDecodeError):
            continue
        if value.isprintable():
            out[key] = value[:_MAX_META_CHARS]
    return out


def _information(path: Path) -> Any:
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    size = list(reader.GetSize())
    if 0 in size:
        raise InvalidImageError(path, f"image has zero size {tuple(size)}", "check that the file holds pixel data")
    if len(size) > 3 and any(s > 1 for s in size[3:]):
        raise InvalidImageError(
            path,
            f"image has {len(size)} axes of sizes {tuple(size)}; medsr handles at most 3 spatial axes plus channels",
            "extract one 3D volume first (e.g. one time point or echo) and pass that",
        )
    if len(size) > 3:
        reader.SetExtractIndex([0] * len(size))
        reader.SetExtractSize(size[:3] + [0] * (len(size) - 3))
    return reader


def _execute(reader: Any, path: Path) -> Any:
    try:
        return reader.Execute()
    except RuntimeError as exc:
        text = str(exc)
        if "spacing" in text.lower():
            raise GeometryError(
                path,
                "voxel spacing is zero or not finite",
                "set the spacing in the image header (e.g. with 3D Slicer or SimpleITK)",
            ) from None
        raise


def read_sitk(path: Path, fmt: str, check: bool = True) -> Image:
    """Read a NIfTI/NRRD/MetaImage file into an :class:`Image`.

    NIfTI files are checked first by :mod:`medsr.io.header_checks` (ITK would hide
    zero spacing, truncation and NaN/Inf); with ``check=False`` NaN/Inf in NIfTI read as 0.

    Raises:
        GeometryError: zero or non-finite spacing.
        InvalidImageError: zero size, or more than three non-trivial axes.
        RuntimeError: SimpleITK could not read it (the caller turns this into ReadError).
    """
    import SimpleITK as sitk

    from medsr.io.header_checks import check_nifti, check_nrrd
    from medsr.sitk_bridge import from_sitk

    if fmt == "mha":  # never handed to ITK's MetaImage parser (see medsr.io.metaimage)
        from medsr.io.metaimage import read_metaimage

        return read_metaimage(path)
    data_files: list[str] = []
    if fmt == "nifti":
        check_nifti(path, check)
    else:
        data_files = check_nrrd(path)
    with quiet_itk():
        reader = _information(path)
        sitk_image = _execute(reader, path)
    dim = sitk_image.GetDimension()
    if dim not in (2, 3):
        raise ReadError(path, f"{dim}-D image", "give a 2D or 3D image")
    view = sitk.GetArrayViewFromImage(sitk_image)
    modality, units = guess_modality(view) if sitk_image.GetNumberOfComponentsPerPixel() == 1 else ("OT", "a.u.")
    meta = ImageMeta(
        modality=modality,
        units=units,
        source_format=fmt,
        source_path=str(path.resolve()),
        source_dtype=view.dtype.name,
        spatial_dims=dim,
        header={"format": fmt, "data_files": data_files, "metadata": _metadata(reader)},
    )
    return from_sitk(sitk_image, meta)


def _is_planar(image: Image) -> bool:
    d = image.direction
    return (
        image.meta.spatial_dims == 2
        and image.shape[2] == 1
        and float(image.origin[2]) == 0.0
        and np.allclose(d[2, :2], 0)
        and np.allclose(d[:2, 2], 0)
        and np.isclose(d[2, 2], 1)
    )


def _sitk_from(image: Image, arr: np.ndarray) -> Any:
    """A SimpleITK image of ``arr`` (C, X, Y, Z) with the geometry of ``image``."""
    import SimpleITK as sitk

    planar = _is_planar(image)
    vector = arr.shape[0] > 1
    a = arr[:, :, :, 0].transpose(2, 1, 0) if planar else arr.transpose(3, 2, 1, 0)  # ([Z,] Y, X, C)
    a = np.ascontiguousarray(a if vector else a[..., 0])
    out = sitk.GetImageFromArray(a, isVector=vector)
    n = 2 if planar else 3
    out.SetSpacing(tuple(float(s) for s in image.spacing[:n]))
    out.SetOrigin(tuple(float(o) for o in image.origin[:n]))
    out.SetDirection(tuple(float(v) for v in image.direction[:n, :n].reshape(-1)))
    return out


def write_sitk(image: Image, path: Path, dtype: np.dtype) -> None:
    """Write ``image`` as NIfTI/NRRD/MetaImage (by the suffix of ``path``) in ``dtype``.

    NRRD and MHA are written gzip-compressed (lossless); ``.nii.gz`` is compressed by name.
    A 2D image (``spatial_dims == 2``, Z = 1, in-plane direction) is written as a 2D file.
    """
    import SimpleITK as sitk

    arr = cast_values(image.data, dtype, label=str(path.name))
    sitk_image = _sitk_from(image, arr)
    name = path.name.lower()
    compress = name.endswith((".nrrd", ".mha", ".nii.gz"))
    with quiet_itk():
        sitk.WriteImage(sitk_image, str(path), compress, 1 if compress else -1)
