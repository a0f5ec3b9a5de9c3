"""MetaImage (``.mha``/``.mhd``) read by medsr itself, so no crafted header reaches native code.

The fuzzing of issue 8 found SimpleITK's MetaImage reader crashing (SIGSEGV/SIGABRT) or hanging
on crafted headers (``NDims = -99999``, a ``TransformMatrix`` of 1e308, …). MetaImage is a
small text header plus raw or zlib-compressed voxels (https://itk.org/Wiki/ITK/MetaIO), so medsr
parses and validates the header (ranges, sizes, finiteness and orthogonality of the direction
matrix, the element type) and reads the voxels with numpy. Detached data files
(``ElementDataFile`` a file name, ``LIST`` or a ``printf`` pattern) are confined to the
header's folder by :mod:`medsr.io.confine`. Writing still goes through SimpleITK, which only
ever sees medsr's own images.

Geometry follows ITK's ``MetaImageIO``: ``TransformMatrix`` row ``i`` is the direction of array
axis ``i`` (the transpose of medsr's column convention), ``Offset`` is the origin.

Example:
    >>> import numpy as np, tempfile, pathlib, SimpleITK as sitk
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.mha"
    >>> img = sitk.GetImageFromArray(np.arange(24, dtype=np.int16).reshape(4, 3, 2))
    >>> img.SetSpacing((0.5, 1, 2)); sitk.WriteImage(img, str(path), True)
    >>> h = parse_header(path)
    >>> h.dims, h.spacing, h.dtype.name, h.compressed
    ([2, 3, 4], [0.5, 1.0, 2.0], 'int16', True)
    >>> float(read_metaimage(path).data[0, 1, 2, 3])
    23.0
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medsr.errors import GeometryError, InvalidImageError, ReadError, UnsupportedFormatError
from medsr.image import Image, ImageMeta
from medsr.io.confine import resolve_reference

_TYPES = {
    "MET_UCHAR": "u1", "MET_CHAR": "i1", "MET_USHORT": "u2", "MET_SHORT": "i2", "MET_UINT": "u4",
    "MET_INT": "i4", "MET_ULONG": "u4", "MET_LONG": "i4", "MET_ULONG_LONG": "u8", "MET_LONG_LONG": "i8",
    "MET_FLOAT": "f4", "MET_DOUBLE": "f8",
}  # fmt: skip
_MAX_HEADER = 1 << 16  # bytes of header text read at the most
_MAX_AXIS = 1 << 20  # voxels along one axis
_TRUE = ("true", "1", "yes")


@dataclass
class MetaHeader:
    """The validated fields of a MetaImage header."""

    dims: list[int]
    spacing: list[float]
    origin: list[float]
    direction: np.ndarray  # (n, n), columns = array axes
    dtype: np.dtype
    channels: int
    compressed: bool
    compressed_size: int | None
    header_size: int  # bytes to skip in the data; -1: the data is at the end
    data_files: list[Path] = field(default_factory=list)  # empty: LOCAL
    data_offset: int = 0  # where LOCAL data start in the header file

    @property
    def nbytes(self) -> int:
        """Bytes of the uncompressed voxel data."""
        return int(np.prod(self.dims, dtype=np.int64)) * self.channels * self.dtype.itemsize


def _fields(path: Path) -> tuple[dict[str, str], int]:
    """``key -> value`` (keys lower case) up to ElementDataFile, and the offset after that line."""
    with open(path, "rb") as fh:
        raw = fh.read(_MAX_HEADER)
    out: dict[str, str] = {}
    pos = 0
    while pos < len(raw):
        end = raw.find(b"\n", pos)
        end = len(raw) if end < 0 else end
        line = raw[pos:end].decode("latin-1").strip()
        pos = end + 1
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise ReadError(path, f"MetaImage header line {line[:60]!r} is not 'Key = Value'", "fix the header")
        key, value = (s.strip() for s in line.split("=", 1))
        out[key.lower()] = value
        if key.lower() == "elementdatafile":
            return out, pos
    raise ReadError(path, "the MetaImage header has no ElementDataFile line", "re-export the image")


def _ints(path: Path, key: str, text: str, n: int) -> list[int]:
    vals = _floats(path, key, text, n)
    if any(v != int(v) for v in vals):
        raise ReadError(path, f"MetaImage {key} = {text!r} is not whole numbers", "fix the header")
    return [int(v) for v in vals]


def _floats(path: Path, key: str, text: str, n: int) -> list[float]:
    try:
        vals = [float(t) for t in text.split()]
    except ValueError:
        raise ReadError(path, f"MetaImage {key} = {text[:80]!r} is not a list of numbers", "fix the header") from None
    if len(vals) != n:
        raise ReadError(path, f"MetaImage {key} has {len(vals)} values for {n} dimensions", "fix the header")
    if not all(np.isfinite(vals)) or any(abs(v) > 1e12 for v in vals):
        raise GeometryError(
            path, f"MetaImage {key} = {text[:80]!r} holds a non-finite or absurd value", "fix the header"
        )
    return vals


def _ndims(path: Path, h: dict[str, str]) -> int:
    try:
        n = int(h.get("ndims", ""))
    except ValueError:
        raise ReadError(path, f"MetaImage NDims = {h.get('ndims')!r} is not a number", "fix the header") from None
    if not 2 <= n <= 4:
        raise InvalidImageError(path, f"MetaImage NDims = {n}; medsr reads 2D and 3D images", "give a 2D or 3D image")
    return n


def _direction(path: Path, h: dict[str, str], n: int) -> np.ndarray:
    key = next((k for k in ("transformmatrix", "rotation", "orientation") if k in h), None)
    if key is None:
        return np.eye(n)
    m = np.asarray(_floats(path, key, h[key], n * n)).reshape(n, n).T  # rows of the header = axes
    if abs(abs(np.linalg.det(m)) - 1) > 1e-3 or not np.allclose(m.T @ m, np.eye(n), atol=1e-3):
        raise GeometryError(
            path, f"MetaImage {key} = {h[key][:80]!r} is not a rotation (orthonormal)", "fix the header's direction"
        )
    return m


def _dtype(path: Path, h: dict[str, str]) -> tuple[np.dtype, int]:
    name = h.get("elementtype", "").upper().removesuffix("_ARRAY")
    if name not in _TYPES:
        raise UnsupportedFormatError(
            path,
            f"MetaImage ElementType {h.get('elementtype')!r} is not supported",
            "re-export as MET_SHORT or MET_FLOAT",
        )
    msb = h.get("binarydatabyteordermsb", h.get("elementbyteordermsb", "false")).lower() in _TRUE
    try:
        channels = int(h.get("elementnumberofchannels", "1"))
    except ValueError:
        channels = 0
    if not 1 <= channels <= 4:
        raise InvalidImageError(
            path, f"MetaImage ElementNumberOfChannels = {h.get('elementnumberofchannels')!r}", "give 1 to 4 channels"
        )
    return np.dtype((">" if msb else "<") + _TYPES[name]), channels


def _sizes(path: Path, h: dict[str, str], n: int) -> list[int]:
    dims = _ints(path, "DimSize", h.get("dimsize", ""), n)
    if min(dims) <= 0 or max(dims) > _MAX_AXIS:
        raise InvalidImageError(path, f"MetaImage DimSize {dims} has a zero, negative or absurd size", "fix the header")
    if n == 4 and dims[3] != 1:
        raise InvalidImageError(path, f"image has 4 axes of sizes {tuple(dims)}", "extract one 3D volume first")
    return dims


def _data_files(path: Path, h: dict[str, str], raw_after: int) -> list[Path]:
    spec = h["elementdatafile"].strip()
    if spec.upper() == "LOCAL":
        return []
    return resolve_reference(path, spec, raw_after, "ElementDataFile")


def parse_header(path: Path) -> MetaHeader:
    """Parse and validate the header of ``path`` and resolve its data files.

    Raises:
        ReadError / GeometryError / InvalidImageError / UnsupportedFormatError: any field out of
            range, a data file outside the header's folder, not regular, or of the wrong size.
    """
    h, after = _fields(path)
    n = _ndims(path, h)
    dims = _sizes(path, h, n)
    spacing = _floats(path, "ElementSpacing", h.get("elementspacing", h.get("elementsize", " ".join(["1"] * n))), n)
    if any(s <= 0 for s in spacing[:3]):
        raise GeometryError(path, f"voxel spacing {spacing} mm is zero or negative", "fix ElementSpacing in the header")
    origin_key = next((k for k in ("offset", "origin", "position") if k in h), None)
    origin = _floats(path, origin_key, h[origin_key], n) if origin_key else [0.0] * n
    dtype, channels = _dtype(path, h)
    compressed = h.get("compresseddata", "false").lower() in _TRUE
    csize = _ints(path, "CompressedDataSize", h["compresseddatasize"], 1)[0] if "compresseddatasize" in h else None
    header_size = _ints(path, "HeaderSize", h.get("headersize", "0"), 1)[0]
    if header_size < -1:
        raise ReadError(path, f"MetaImage HeaderSize = {header_size}", "fix the header")
    if h.get("binarydata", "true").lower() not in _TRUE:
        raise UnsupportedFormatError(path, "MetaImage with ASCII voxel data", "re-export it with BinaryData = True")
    head = MetaHeader(dims, spacing, origin, _direction(path, h, n), dtype, channels, compressed, csize, header_size)
    head.data_files = _data_files(path, h, after)
    head.data_offset = after
    _check_sizes(path, head)
    return head


def _check_sizes(path: Path, head: MetaHeader) -> None:
    from medsr.budget import check_fits, check_inflation, check_pixels

    check_pixels(head.dims[0] * head.dims[1], path)
    files = head.data_files or [path]
    have = sum(p.stat().st_size for p in files) - (head.data_offset if not head.data_files else 0)
    if head.compressed:
        check_inflation(have, head.nbytes, path)
        if head.compressed_size is not None and (head.compressed_size <= 0 or head.compressed_size > have):
            raise ReadError(
                path, f"CompressedDataSize {head.compressed_size} exceeds the {have} data bytes", "re-export"
            )
    elif have < head.nbytes + max(0, head.header_size) * len(files):
        raise ReadError(path, f"the file is truncated ({have} of {head.nbytes} voxel bytes)", "re-export the image")
    check_fits(
        head.nbytes + 4 * head.nbytes // head.dtype.itemsize, f"reading the {'×'.join(map(str, head.dims))} image", path
    )


def _raw_bytes(path: Path, head: MetaHeader) -> bytes:
    chunks = []
    for f in head.data_files or [path]:
        with open(f, "rb") as fh:
            start = head.data_offset if not head.data_files else 0
            if head.header_size > 0:
                start += head.header_size
            fh.seek(start)
            chunks.append(fh.read())
    data = b"".join(chunks)
    if head.compressed:
        dec = zlib.decompressobj()
        try:
            out = dec.decompress(data, head.nbytes + 1)
        except zlib.error as exc:
            raise ReadError(path, f"the compressed voxel data are corrupt ({exc})", "re-export the image") from None
        if len(out) != head.nbytes:
            raise ReadError(path, f"the compressed data hold {len(out)} of {head.nbytes} bytes", "re-export the image")
        return out
    if head.header_size == -1:
        return data[len(data) - head.nbytes :]
    return data[: head.nbytes]


def read_metaimage(path: Path) -> Image:
    """Read a validated MetaImage file into an :class:`Image` ``(C, X, Y, Z)``."""
    from medsr.io.sitk_formats import guess_modality

    head = parse_header(path)
    flat = np.frombuffer(_raw_bytes(path, head), dtype=head.dtype)
    n = len(head.dims)
    dims = head.dims[:3]
    arr = flat.reshape(*dims[::-1], head.channels)  # ([Z,] Y, X, C), X fastest
    if len(dims) == 2:
        arr = arr[None]
    data = np.ascontiguousarray(arr.transpose(3, 2, 1, 0), dtype=np.float32)
    spacing, origin, direction = list(head.spacing[:3]), list(head.origin[:3]), np.eye(3)
    k = min(n, 3)
    direction[:k, :k] = head.direction[:k, :k]
    if len(dims) == 2:
        spacing, origin = spacing + [1.0], origin + [0.0]
    modality, units = (
        guess_modality(flat.astype(head.dtype.newbyteorder("="), copy=False)) if head.channels == 1 else ("OT", "a.u.")
    )
    files = [str(p) for p in head.data_files]
    meta = ImageMeta(
        modality=modality,
        units=units,
        source_format="mha",
        source_path=str(path.resolve()),
        source_dtype=head.dtype.newbyteorder("=").name,
        spatial_dims=len(dims),
        header={"format": "mha", "data_files": files, "metadata": {}},
    )
    return Image(data, spacing, origin, direction, meta=meta)
