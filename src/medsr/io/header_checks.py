"""Header checks that ITK does not make (or reports obscurely), run before SimpleITK reads.

* NIfTI: ITK silently turns a zero ``pixdim`` into 1 mm and NaN/Inf voxels into 0, and reads
  a truncated uncompressed ``.nii`` without complaint. The header is parsed here (NIfTI-1 and
  NIfTI-2, either byte order) and float voxels are scanned in chunks.
* NRRD: ITK reads a ``nan`` spacing as 1 mm and fails on zero sizes or zero
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

from medsr.errors import GeometryError, InvalidImageError, ReadError, UnsupportedFormatError

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
    code: int = 16  # the NIfTI datatype code
    geometry_finite: bool = True  # quaternion, offsets and sform rows
    ndim: int = 3  # dim[0]


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
            geometry = np.frombuffer(head[256:344], order + "f4").astype(float)  # quatern_b.. srow_z
            break
        if size == 540 and len(head) >= 540:
            dim = np.frombuffer(head[16:80], order + "i8").astype(int)
            pix = np.frombuffer(head[104:168], order + "f8").astype(float)
            code = int(np.frombuffer(head[12:14], order + "i2")[0])
            offset = float(np.frombuffer(head[168:176], order + "i8")[0])
            geometry = np.frombuffer(head[280:472], order + "f8").astype(float)  # quatern_b.. srow_z
            break
    else:
        return None
    n = int(np.clip(dim[0], 0, 7))
    dtype = np.dtype(order + _DATATYPES.get(code, "u1"))
    components = {128: 3, 2304: 4}.get(code, 1)
    return NiftiHeader(
        dim[1 : n + 1].tolist(),
        pix[1 : n + 1].tolist(),
        dtype,
        int(offset) if np.isfinite(offset) else -1,
        components,
        code,
        bool(np.all(np.isfinite(geometry)) and np.all(np.abs(geometry) < 1e12)),
        int(dim[0]),
    )


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


def _check_nifti_fields(path: Path, header: NiftiHeader) -> None:
    """Refuse complex data, unknown voxel types, absurd sizes and a bad data offset."""
    if header.code in (32, 1792, 2048):
        raise InvalidImageError(
            path,
            f"the image holds complex values (NIfTI datatype {header.code}); medsr would drop the imaginary part",
            "save the magnitude (or the real part) as a real-valued image first, e.g. with nibabel: abs(img)",
        )
    if not 1 <= header.ndim <= 7:
        raise ReadError(path, f"NIfTI dim[0] = {header.ndim} is not a number of dimensions (1-7)", "re-export it")
    if not header.geometry_finite:
        raise GeometryError(
            path, "the NIfTI qform/sform (orientation and origin) holds NaN, infinite or absurd values", "fix it"
        )
    if header.code not in _DATATYPES:
        raise UnsupportedFormatError(
            path, f"NIfTI datatype code {header.code} is not supported", "save it as int16 or float32"
        )
    if len(header.dims) > 7 or max(header.dims) > _MAX_AXIS:
        raise InvalidImageError(path, f"NIfTI sizes {tuple(header.dims)} are not sensible", "fix the header")
    if header.vox_offset < 348 and not path.name.lower().endswith(".hdr"):
        raise ReadError(path, f"NIfTI vox_offset {header.vox_offset} lies inside the header", "re-export the image")


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
    _check_nifti_fields(path, header)
    spatial = header.pixdim[:3]
    if any(not np.isfinite(p) or p == 0 for p in spatial):
        raise GeometryError(
            path,
            f"voxel spacing (pixdim) {spatial} mm is zero or not finite",
            "set the spacing (pixdim) in the header, e.g. with 3D Slicer or nibabel",
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
    from medsr.budget import check_fits, check_inflation, check_pixels

    if len(header.dims) >= 2:
        check_pixels(header.dims[0] * header.dims[1], path)
    nbytes = n_values * header.dtype.itemsize  # known from the header before anything inflates
    dims = "×".join(str(d) for d in header.dims)
    if path.name.lower().endswith(".gz"):
        check_inflation(path.stat().st_size, nbytes, path)
    check_fits(nbytes + 4 * n_values, f"reading the {dims} image", path)
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
_NRRD_SIZES = {1: ("signed char", "int8", "int8_t", "uchar", "unsigned char", "uint8", "uint8_t"),
               2: ("short", "short int", "signed short", "signed short int", "int16", "int16_t", "ushort",
                   "unsigned short", "unsigned short int", "uint16", "uint16_t"),
               4: ("int", "signed int", "int32", "int32_t", "uint", "unsigned int", "uint32", "uint32_t", "float"),
               8: ("longlong", "long long", "long long int", "signed long long", "signed long long int", "int64",
                   "int64_t", "ulonglong", "unsigned long long", "unsigned long long int", "uint64", "uint64_t",
                   "double")}  # fmt: skip
_NRRD_ITEMSIZE = {name: size for size, names in _NRRD_SIZES.items() for name in names}
_NRRD_ENCODINGS = ("raw", "gz", "gzip", "bz2", "bzip2", "txt", "text", "ascii", "hex")
_MAX_AXIS = 1 << 20


def _text_header(path: Path, end: bytes) -> tuple[dict[str, str], int]:
    """``key -> value`` of a NRRD text header (``key: value``) and the offset after it."""
    with open(path, "rb") as fh:
        raw = fh.read(1 << 16)
    head, found, _ = raw.partition(end)
    out: dict[str, str] = {}
    for line in head.decode("latin-1").splitlines()[1:]:
        if line.startswith("#") or ":" not in line:
            continue
        sep = ":=" if ":=" in line else ":"
        key, value = line.split(sep, 1)
        out.setdefault(key.strip().lower(), value.strip())
    return out, len(head) + len(found) if found else len(raw)


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


def _nrrd_sizes(path: Path, h: dict[str, str]) -> list[int]:
    try:
        dim = int(h.get("dimension", "0"))
    except ValueError:
        dim = 0
    sizes = _numbers(h.get("sizes", ""))
    if not 1 <= dim <= 5 or len(sizes) != dim or not all(np.isfinite(sizes)):
        raise ReadError(
            path,
            f"NRRD dimension {h.get('dimension')!r} and sizes {h.get('sizes')!r} disagree or are out of range",
            "fix the header (medsr reads 2D and 3D images, plus channels)",
        )
    if min(sizes) <= 0:
        raise InvalidImageError(
            path, f"image has zero size {tuple(int(v) for v in sizes)}", "check that the file holds pixel data"
        )
    if max(sizes) > _MAX_AXIS or any(v != int(v) for v in sizes):
        raise InvalidImageError(path, f"NRRD sizes {h['sizes']!r} are not sensible", "fix the header")
    return [int(v) for v in sizes]


def _nrrd_spacing(path: Path, h: dict[str, str], spatial: list[int]) -> None:
    for key in ("space origin", "space directions"):
        nums = [v for v in _numbers(h.get(key, "")) if not np.isnan(v)]
        if any(not np.isfinite(v) or abs(v) > 1e12 for v in nums):
            raise GeometryError(path, f"NRRD {key} {h[key][:80]!r} holds an infinite or absurd value", "fix the header")
    if "space directions" in h:
        vectors = re.findall(r"\(([^)]*)\)|none", h["space directions"])
        norms = [float(np.linalg.norm(_numbers(v))) for v in vectors if v]
        if _bad_spacing(norms):
            raise GeometryError(
                path,
                f"space directions {h['space directions']!r} give a zero or undefined voxel spacing",
                "fix the space directions of the header",
            )
    elif "spacings" in h:
        values = _numbers(h["spacings"])
        used = [values[i] for i in spatial if i < len(values)]
        if _bad_spacing(used) or any(abs(v) > 1e12 for v in used):
            raise GeometryError(
                path, f"voxel spacing {used} mm is zero, absurd or missing (nan)", "fix the spacings of the header"
            )


def _nrrd_data_files(path: Path, h: dict[str, str], header_end: int) -> list[Path]:
    from medsr.io.confine import resolve_reference

    spec = h.get("data file", h.get("datafile", "")).strip()
    return resolve_reference(path, spec, header_end, "data file") if spec else []


def check_nrrd(path: Path) -> list[str]:
    """Validate a NRRD header and confine its data files; returns the data files it names.

    Refuses zero, negative or absurd sizes, an unknown type or encoding, zero, NaN or infinite
    spacings and origins, data files outside the header's folder or not regular, fewer raw bytes
    than announced, and images larger than the memory budget.
    """
    from medsr.budget import check_fits, check_inflation, check_pixels

    h, end = _text_header(path, b"\n\n")
    sizes = _nrrd_sizes(path, h)
    if len(sizes) >= 2:
        check_pixels(sizes[-2] * sizes[-1] if len(sizes) > 3 else sizes[0] * sizes[1], path)
    itemsize = _NRRD_ITEMSIZE.get(h.get("type", "").lower())
    if itemsize is None:
        raise UnsupportedFormatError(
            path, f"NRRD type {h.get('type')!r} is not supported", "re-export as short or float"
        )
    encoding = h.get("encoding", "").lower()
    if encoding not in _NRRD_ENCODINGS:
        raise UnsupportedFormatError(
            path, f"NRRD encoding {h.get('encoding')!r} is not supported", "re-export it raw or gzip"
        )
    kinds = h.get("kinds", "").split()
    spatial = [i for i in range(len(sizes)) if i >= len(kinds) or not _NOT_SPATIAL.search(kinds[i])]
    _nrrd_spacing(path, h, spatial)
    files = _nrrd_data_files(path, h, end)
    nbytes = int(np.prod(sizes, dtype=np.int64)) * itemsize
    if encoding == "raw":
        have = sum(p.stat().st_size for p in files) if files else path.stat().st_size - end
        if have < nbytes:
            raise ReadError(path, f"the file is truncated ({have} of {nbytes} voxel bytes)", "re-export the image")
    if encoding != "raw":
        check_inflation(sum(p.stat().st_size for p in files) if files else path.stat().st_size, nbytes, path)
    check_fits(nbytes + 4 * nbytes // itemsize, f"reading the {'×'.join(map(str, sizes))} image", path)
    return [str(p) for p in files]
