"""PNG, TIFF and JPEG: photographs, slides and exported X-rays (Pillow, tifffile).

Reading gives ``(C, X, Y, 1)`` with ``spatial_dims = 2``: C = 3 with ``rgb=True`` for
colour (alpha is dropped), C = 1 for grey. Spacing is 1 mm unless TIFF resolution tags
(inch or centimetre) give it; a multi-page grey TIFF stack becomes Z (1 mm apart).
Modality is ``XC`` for colour, ``OT`` for grey.

Writing stores 8- or 16-bit integers: ``dtype`` ``"uint8"`` or ``"uint16"``; ``"input"``
and the default ``"float32"`` both pick the source depth when the image was read as 8 or
16 bit, else 8 bit when every value lies in [0, 255] and 16 bit otherwise. Values are
rounded and clipped to the type's range, never rescaled. TIFF stores resolution tags
from the spacing (centimetre units) so it reads back with the same spacing.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> from medsr.image import Image, ImageMeta
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.png"
    >>> img = Image(np.full((3, 4, 2, 1), 200, np.float32), meta=ImageMeta(spatial_dims=2, rgb=True))
    >>> write_raster(img, path, "float32")
    'uint8'
    >>> back = read_raster(path, "png")
    >>> back.shape, back.channels, back.meta.rgb, back.meta.modality
    ((4, 2, 1), 3, True, 'XC')
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from medsr.budget import MAX_2D_PIXELS, check_fits, check_pixels
from medsr.errors import InvalidImageError, OutputError, ReadError, ResourceError
from medsr.image import Image, ImageMeta
from medsr.io.dtypes import cast_values

logger = logging.getLogger(__name__)

_MM_PER_UNIT = {2: 25.4, 3: 10.0}  # TIFF ResolutionUnit: inch, centimetre


def _png_is_16bit_colour(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(26)
    return len(head) == 26 and head[24] == 16 and head[25] in (2, 6)


def _read_pillow(path: Path) -> tuple[np.ndarray, str]:
    """``(array (H, W[, C]), original mode)`` with alpha dropped and palettes expanded."""
    from PIL import Image as PILImage

    try:
        opened = PILImage.open(path)
    except PILImage.DecompressionBombError:
        raise ResourceError(
            path,
            f"the image has more than {MAX_2D_PIXELS / 1e6:.0f} Mpixel (Pillow's decompression-bomb limit)",
            "crop or downscale the image first, e.g. into tiles",
        ) from None
    pil: Any
    with opened as pil:
        check_pixels(pil.width * pil.height, path)
        pil.load()
        mode = pil.mode
        if mode in ("1", "LA", "La"):
            pil = pil.convert("L")
        elif mode in ("P", "PA", "RGBA", "RGBa", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
            pil = pil.convert("RGB")
        elif mode.startswith("I;16"):
            return np.asarray(pil).astype(np.uint16), mode
        arr = np.asarray(pil)
    if mode == "I" and arr.size and arr.min() >= 0 and arr.max() <= 65535:
        arr = arr.astype(np.uint16)  # 16-bit PNGs open as 32-bit "I" in some Pillow versions
    return arr, mode


def _read_sitk_png(path: Path) -> tuple[np.ndarray, str]:
    import SimpleITK as sitk

    from medsr.io.sitk_formats import quiet_itk

    with open(path, "rb") as fh:  # IHDR width and height, checked before ITK allocates
        head = fh.read(24)
    check_pixels(int.from_bytes(head[16:20], "big") * int.from_bytes(head[20:24], "big"), path)

    with quiet_itk():
        arr = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    if arr.ndim == 3 and arr.shape[-1] in (2, 4):
        arr = arr[..., :-1]  # drop alpha
    return arr, "RGB;16"


def _tiff_spacing(page: Any) -> tuple[float, float] | None:
    tags = page.tags
    unit = tags.get("ResolutionUnit")
    unit_mm = _MM_PER_UNIT.get(int(unit.value)) if unit is not None else None
    xr, yr = tags.get("XResolution"), tags.get("YResolution")
    if unit_mm is None or xr is None or yr is None:
        return None
    try:
        rx = xr.value[0] / xr.value[1]
        ry = yr.value[0] / yr.value[1]
    except (TypeError, ZeroDivisionError, IndexError):
        return None
    if not (rx > 0 and ry > 0 and np.isfinite(rx) and np.isfinite(ry)):
        return None
    return unit_mm / rx, unit_mm / ry


def _to_zyxs(arr: np.ndarray, axes: str, path: Path) -> np.ndarray:
    """Reorder a tifffile series to (Z, Y, X, S)."""
    if "S" not in axes:
        arr, axes = arr[..., None], axes + "S"
    order = [axes.index(a) for a in axes if a not in "YXS"]
    if len(order) > 1 and any(arr.shape[i] > 1 for i in order[1:]):
        raise InvalidImageError(
            path,
            f"TIFF has axes {axes!r} of shape {arr.shape}; medsr reads 2D images or one stack of planes",
            "save one image or one stack",
        )
    arr = np.moveaxis(arr, [axes.index("Y"), axes.index("X"), axes.index("S")], [-3, -2, -1])
    return arr.reshape((-1,) + arr.shape[-3:])


def _read_tiff(path: Path) -> tuple[np.ndarray, str, tuple[float, float] | None]:
    """``(array (Z, H, W, S), photometric name, in-plane spacing from tags or None)``."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        page: Any = series.pages[0] if series.pages else tif.pages[0]
        check_pixels(int(page.imagewidth) * int(page.imagelength), path)
        check_fits(2 * int(np.prod(series.shape)) * (series.dtype.itemsize + 4), "reading the TIFF", path)
        arr = series.asarray()
        photometric = page.photometric
        colormap = page.colormap
        extras = len(page.extrasamples or ())
        spacing = _tiff_spacing(page)
        axes = series.axes
    arr = _to_zyxs(np.asarray(arr), axes, path)
    name = getattr(photometric, "name", str(photometric))
    if name == "PALETTE" and colormap is not None:
        arr = np.moveaxis(np.asarray(colormap)[:, arr[..., 0]], 0, -1)
    elif extras and arr.shape[-1] > extras:
        arr = arr[..., : arr.shape[-1] - extras]  # drop alpha / extra samples
    if name == "MINISWHITE" and np.issubdtype(arr.dtype, np.integer):
        arr = np.iinfo(arr.dtype).max - arr
    return arr, name, spacing


def read_raster(path: Path, fmt: str) -> Image:
    """Read a PNG, JPEG or TIFF file into a planar :class:`Image` (see the module docstring)."""
    spacing_xy: tuple[float, float] | None = None
    if fmt == "tiff":
        zyxs, mode, spacing_xy = _read_tiff(path)
    else:
        arr, mode = _read_sitk_png(path) if fmt == "png" and _png_is_16bit_colour(path) else _read_pillow(path)
        zyxs = arr[None, ..., None] if arr.ndim == 2 else arr[None]
    if zyxs.size == 0:
        raise InvalidImageError(path, f"image has zero size {zyxs.shape}", "check the file holds pixels")
    channels = zyxs.shape[-1]
    if channels not in (1, 3):
        raise ReadError(path, f"{channels} samples per pixel", "save it as grey or RGB")
    rgb = channels == 3
    data = np.ascontiguousarray(np.transpose(zyxs, (3, 2, 1, 0)), dtype=np.float32)  # (C, X, Y, Z)
    spacing = (*(spacing_xy or (1.0, 1.0)), 1.0)
    meta = ImageMeta(
        modality="XC" if rgb else "OT",
        units="a.u.",
        source_format=fmt,
        source_path=str(path.resolve()),
        source_dtype=zyxs.dtype.name,
        spatial_dims=2 if data.shape[3] == 1 else 3,
        rgb=rgb,
        header={"format": fmt, "mode": mode, "spacing_from_tags": spacing_xy is not None},
    )
    return Image(data, spacing, meta=meta)


def raster_dtype(dtype: str, image: Image) -> np.dtype:
    """The 8- or 16-bit type a PNG/TIFF output gets for ``dtype`` (see the module docstring)."""
    name = str(dtype).lower()
    if name in ("uint8", "uint16"):
        return np.dtype(name)
    if name not in ("input", "float32"):
        raise OutputError(
            None,
            f"PNG/TIFF outputs are 8 or 16 bit, not {dtype!r}",
            "use dtype uint8, uint16 or input, or write NIfTI/NRRD for floats",
        )
    if image.meta.source_dtype in ("uint8", "uint16"):
        return np.dtype(image.meta.source_dtype)
    lo, hi = float(np.nanmin(image.data)), float(np.nanmax(image.data))
    return np.dtype("uint8" if lo >= -0.5 and hi < 255.5 else "uint16")


def _check_writable(image: Image, path: Path, fmt: str) -> None:
    if image.channels not in (1, 3):
        raise OutputError(
            path,
            f"image has {image.channels} channels; {fmt.upper()} holds grey or RGB",
            "write NIfTI/NRRD/MHA instead",
        )
    if image.shape[2] > 1 and fmt == "png":
        raise OutputError(
            path,
            f"a volume with {image.shape[2]} slices cannot be one PNG",
            "write NIfTI/NRRD/MHA or a TIFF stack (.tif)",
        )


def write_raster(image: Image, path: Path, dtype: str) -> str:
    """Write ``image`` as PNG or TIFF (by the suffix of ``path``); returns the dtype name used."""
    fmt = "png" if path.name.lower().endswith(".png") else "tiff"
    _check_writable(image, path, fmt)
    out_dtype = raster_dtype(dtype, image)
    arr = cast_values(image.data, out_dtype, label=path.name)
    zyxs = np.ascontiguousarray(np.transpose(arr, (3, 2, 1, 0)))  # (Z, Y, X, C)
    if fmt == "png":
        import SimpleITK as sitk

        from medsr.io.sitk_formats import quiet_itk

        plane = zyxs[0] if image.channels == 3 else zyxs[0, ..., 0]
        with quiet_itk():
            sitk.WriteImage(sitk.GetImageFromArray(plane, isVector=image.channels == 3), str(path))
    else:
        import tifffile

        sx, sy = (float(s) for s in image.spacing[:2])
        data = zyxs if image.channels == 3 else zyxs[..., 0]
        tifffile.imwrite(
            path,
            data[0] if data.shape[0] == 1 else data,
            photometric="rgb" if image.channels == 3 else "minisblack",
            resolution=(10.0 / sx, 10.0 / sy),
            resolutionunit="CENTIMETER",
            software="medsr",
        )
    return out_dtype.name
