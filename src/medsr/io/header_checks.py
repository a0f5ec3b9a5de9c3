"""Header checks that ITK does not make (or reports obscurely), run before SimpleITK reads.

* NIfTI: ITK silently turns a zero ``pixdim`` into 1 mm and NaN/Inf voxels into 0, and reads
  a truncated uncompressed ``.nii`` without complaint. The header is parsed here (NIfTI-1 and
  NIfTI-2, either byte order) and float voxels are scanned in chunks.
* NRRD and MetaImage: ITK reads a ``nan`` spacing as 1 mm and fails on zero sizes or zero
  spacings with messages that name no remedy; the text headers are parsed here.

Zero or non-finite spacing on a spatial axis raises :class:`GeometryError`, a zero size
:class:`InvalidImageError`, missing voxel bytes :class:`ReadError`.

Example:
    >>> import numpy as np, tempfile, pathlib, SimpleITK as sitk
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.nii"
    >>> img = sitk.GetImageFromArray(np.zeros((4, 3, 2), np.float32)); img.SetSpacing((0.5, 1, 2))
    >>> sitk.WriteImage(img, str(path))
    >>> h = parse_nifti_header(path)
    >>> h.dims, h.pixdim, h.dtype.name
    ([2, 3, 4], [0.5, 1.0, 2.0], 'float32')
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medsr.errors import GeometryError, InvalidImageError, ReadError

#: NIfTI datatype code -> numpy type (without byte order)
_DATATYPES = {
    2: "u1",
    4: "i2",
    8: "i4",
    16: "f4",
    64: "f8",
    256: "i1",
    512: "u2",
    768: "u4",
    1024: "i8",
    1280: "u8",
    128: "u1",
    2304: "u1",
    32: "c8",
    1792: "c16",
}
_CHUNK = 1 << 24  # bytes scanned at a time


@dataclass
class NiftiHeader:
    """The fields medsr checks: sizes and spacings of the used axes, voxel type and data offset."""

    dims: list[int]
    pixdim: list[float]
    dtype: np.dtype
    vox_offset: int
    components: int = 1  # 3 for RGB24, 4 for RGBA32


def _opener(path: Path):  # noqa: ANN202
    return gzip.open if path.name.lower().endswith(".gz") else open


def parse_nifti_header(path: Path) -> NiftiHeader | None:
    """The header of a NIfTI-1/2 file, or None when ``path`` does not hold one."""
    with _opener(path)(path, "rb") as fh:
        head = fh.read(540)
    for order in ("<", ">"):
        size = int(np.frombuffer(head[:4], order + "i4")[0]) if len(head) >= 4 else 0
        if size == 348 and len(head) >= 348:
            dim = np.frombuffer(head[40:56], order + "i2").astype(int)
            pix = np.frombuffer(head[76:108], order + "f4").astype(float)
            code = int(np.frombuffer(head[70:72], order + "i2")[0])
            offset = float(np.frombuffer(head[108:112], order + "f4")[0])
            break
        if size == 540 and len(head) >= 540:
            dim = np.frombuffer(head[16:80], order + "i8").astype(int)
            pix = np.frombuffer(head[104:168], order + "f8").astype(float)
            code = int(np.frombuffer(head[12:14], order + "i2")[0])
            offset = float(np.frombuffer(head[168:176], order + "i8")[0])
            break
    else:
        return None
    n = int(np.clip(dim[0], 0, 7))
    dtype = np.dtype(order + _DATATYPES.get(code, "u1"))
    components = {128: 3, 2304: 4}.get(code, 1)
    return NiftiHeader(dim[1 : n + 1].tolist(), pix[1 : n + 1].tolist(), dtype, int(offset), components)


def _scan_voxels(path: Path, header: NiftiHeader, n_values: int, count_bad: bool) -> int:
    """Read all voxel bytes in chunks (raising ReadError when short); count NaN/Inf if asked."""
    itemsize = header.dtype.itemsize
    left, bad = n_values * itemsize, 0
    try:
        with _opener(path)(path, "rb") as fh:
            fh.seek(header.vox_offset)
            while left > 0:
                block = fh.read(min(_CHUNK - _CHUNK % itemsize, left))
                if not block:
                    break
                if count_bad:
                    usable = len(block) - len(block) % itemsize
                    bad += int(np.count_nonzero(~np.isfinite(np.frombuffer(block[:usable], header.dtype))))
                left -= len(block)
    except (EOFError, OSError, zlib.error):
        left = max(left, 1)
    if left > 0:
        raise ReadError(path, "the file is truncated (voxel data missing)", "re-export or re-download the image")
    return bad


def check_nifti(path: Path, check_values: bool = True) -> None:
    """Refuse zero size, zero/non-finite spacing, truncation and (``check_values``) NaN/Inf.

    Raises:
        InvalidImageError: a zero-sized axis, or NaN/Inf voxels.
        GeometryError: zero or non-finite pixdim on a used spatial axis.
        ReadError: fewer voxel bytes than the header announces (a ``.nii.gz`` is decompressed
            once to count them, because ITK pads a short one with zeros).
    """
    header = parse_nifti_header(path)
    if header is None:
        return
    if not header.dims or any(d <= 0 for d in header.dims):
        raise InvalidImageError(
            path, f"image has zero size {tuple(header.dims)}", "check that the file holds pixel data"
        )
    spatial = header.pixdim[:3]
    if any(not np.isfinite(p) or p == 0 for p in spatial):
        raise GeometryError(
            path,
            f"voxel spacing (pixdim) {spatial} mm is zero or not finite",
            "set the spacing in the header or pass --input-spacing SX SY SZ",
        )
    n_values = int(np.prod(header.dims, dtype=np.int64)) * header.components
    count_bad = check_values and header.dtype.kind in "fc"
    if not path.name.lower().endswith(".gz"):
        need = header.vox_offset + n_values * header.dtype.itemsize
        have = path.stat().st_size
        if have < need:
            raise ReadError(
                path, f"the file is truncated ({have} of {need} bytes)", "re-export or re-download the image"
            )
    if count_bad or path.name.lower().endswith(".gz"):  # ITK fills a short .nii.gz with zeros
        bad = _scan_voxels(path, header, n_values, count_bad)
        if bad:
            raise InvalidImageError(
                path,
                f"{bad} voxel values are NaN or infinite",
                "replace them (e.g. with the background value) before running medsr",
            )


_SPATIAL_KINDS = {"domain", "space", "time", "???", "none"}
_NOT_SPATIAL = re.compile(
    r"(vector|color|rgb|list|point|normal|gradient|covariant|tensor|complex|matrix|quaternion)", re.IGNORECASE
)


def _text_header(path: Path, end: bytes) -> dict[str, str]:
    """``key -> value`` of a NRRD (``key: value``) or MetaImage (``Key = value``) text header."""
    with open(path, "rb") as fh:
        raw = fh.read(1 << 16)
    raw = raw.split(end, 1)[0] if end in raw else raw
    out: dict[str, str] = {}
    for line in raw.decode("latin-1").splitlines():
        for sep in (":=", ": ", " = ", "="):
            if sep in line and not line.startswith("#"):
                key, value = line.split(sep, 1)
                out.setdefault(key.strip().lower(), value.strip())
                break
    return out


def _bad_spacing(values: list[float]) -> bool:
    return any(not np.isfinite(v) or v == 0 for v in values)


def _numbers(text: str) -> list[float]:
    out = []
    for tok in text.replace(",", " ").replace("(", " ").replace(")", " ").split():
        try:
            out.append(float(tok))
        except ValueError:
            out.append(float("nan"))
    return out


def check_nrrd(path: Path) -> None:
    """Refuse zero sizes and zero, NaN or missing spacings on the spatial axes of a NRRD header."""
    h = _text_header(path, b"\n\n")
    sizes = [int(v) for v in _numbers(h.get("sizes", "")) if np.isfinite(v)]
    if sizes and min(sizes) <= 0:
        raise InvalidImageError(path, f"image has zero size {tuple(sizes)}", "check that the file holds pixel data")
    kinds = h.get("kinds", "").split()
    spatial = [i for i in range(len(sizes)) if i >= len(kinds) or not _NOT_SPATIAL.search(kinds[i])]
    if "space directions" in h:
        vectors = re.findall(r"\(([^)]*)\)|none", h["space directions"])
        norms = [float(np.linalg.norm(_numbers(v))) for v in vectors if v]
        if _bad_spacing(norms):
            raise GeometryError(
                path,
                f"space directions {h['space directions']!r} give a zero or undefined voxel spacing",
                "fix the header or pass --input-spacing SX SY SZ",
            )
    elif "spacings" in h:
        values = _numbers(h["spacings"])
        used = [values[i] for i in spatial if i < len(values)]
        if _bad_spacing(used):
            raise GeometryError(
                path,
                f"voxel spacing {used} mm is zero or missing (nan)",
                "fix the header's spacings or pass --input-spacing SX SY SZ",
            )


def check_mha(path: Path) -> None:
    """Refuse zero sizes and zero or NaN ElementSpacing in a MetaImage header."""
    h = _text_header(path, b"ElementDataFile")
    sizes = [v for v in _numbers(h.get("dimsize", ""))]
    if sizes and min(sizes) <= 0:
        raise InvalidImageError(
            path, f"image has zero size {tuple(int(v) for v in sizes)}", "check that the file holds pixel data"
        )
    for key in ("elementspacing", "elementsize"):
        if key in h and _bad_spacing(_numbers(h[key])):
            raise GeometryError(
                path,
                f"voxel spacing {h[key]!r} is zero or not finite",
                "fix ElementSpacing in the header or pass --input-spacing SX SY SZ",
            )
