"""The bad-input corpus at library level: the right medsr error, one line with the file and a
remedy, the input bytes unchanged and nothing written."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from medsr.errors import (
    GeometryError,
    InvalidImageError,
    MedsrError,
    OutputError,
    ReadError,
    SeriesSelectionError,
    UnsupportedFormatError,
)
from medsr.image import Image
from medsr.io import read, write
from tests.io.io_fixtures import ct_volume, make_ct_series, make_single, sha256_tree


def nifti_bytes(
    data: np.ndarray, pixdim: tuple[float, ...] = (1.0, 1.0, 1.0), dims: tuple[int, ...] | None = None
) -> bytes:
    """A minimal single-file NIfTI-1 (float32, sform identity) holding ``data`` (x fastest)."""
    dims = tuple(data.shape) if dims is None else dims
    head = bytearray(352)
    head[0:4] = np.int32(348).tobytes()
    dim = np.ones(8, np.int16)
    dim[0] = len(dims)
    dim[1 : 1 + len(dims)] = dims
    head[40:56] = dim.tobytes()
    head[70:72] = np.int16(16).tobytes()  # FLOAT32
    head[72:74] = np.int16(32).tobytes()
    pix = np.ones(8, np.float32)
    pix[1 : 1 + len(pixdim)] = pixdim
    head[76:108] = pix.tobytes()
    head[108:112] = np.float32(352).tobytes()
    head[344:348] = b"n+1\x00"
    return bytes(head) + np.asarray(data, np.float32).tobytes(order="F")


def _write(path: Path, payload: bytes) -> Path:
    path.write_bytes(gzip.compress(payload) if path.name.endswith(".gz") else payload)
    return path


def _nrrd(path: Path, spacing: str, values: np.ndarray) -> Path:
    header = (
        f"NRRD0004\ntype: float\ndimension: 3\nspace: left-posterior-superior\nsizes: 2 2 2\n"
        f"space directions: {spacing}\nendian: little\nencoding: raw\nspace origin: (0,0,0)\n\n"
    )
    path.write_bytes(header.encode() + values.astype("<f4").tobytes())
    return path


def _two_series(tmp: Path) -> Path:
    make_ct_series(tmp / "mixed", ct_volume((4, 3, 2)), names="a{:d}.dcm")
    make_ct_series(tmp / "mixed", ct_volume((4, 3, 2)), names="b{:d}.dcm")
    return tmp / "mixed"


def _truncated_dicom(tmp: Path) -> Path:
    src = make_single(tmp / "full.dcm", np.arange(64 * 64, dtype=np.uint16).reshape(64, 64))
    data = src.read_bytes()
    src.unlink()
    return _write(tmp / "cut.dcm", data[: len(data) - 3000])


def _truncated_png(tmp: Path) -> Path:
    from PIL import Image as PILImage

    PILImage.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(tmp / "f.png")
    data = (tmp / "f.png").read_bytes()
    (tmp / "f.png").unlink()
    return _write(tmp / "cut.png", data[: len(data) // 2])


def _symlink(tmp: Path) -> Path:
    (tmp / "dangling.nii.gz").symlink_to(tmp / "gone.nii.gz")
    return tmp / "dangling.nii.gz"


def _dir_named_like_file(tmp: Path) -> Path:
    (tmp / "x.nii.gz").mkdir()
    return tmp / "x.nii.gz"


def _no_images(tmp: Path) -> Path:
    (tmp / "docs").mkdir()
    (tmp / "docs" / "README.txt").write_text("no images here")
    return tmp / "docs"


def _duplicates(tmp: Path) -> Path:
    positions = [np.zeros(3), np.zeros(3), np.array([0, 0, 2.5])]
    return make_ct_series(tmp / "dups", ct_volume((4, 3, 3)), positions=positions)["files"][0].parent


RNG = np.random.default_rng(7)
CASES: dict[str, tuple[Callable[[Path], Path], type[MedsrError]]] = {
    "truncated_nifti_gz": (
        lambda t: _write(t / "cut.nii.gz", gzip.compress(nifti_bytes(RNG.random((16, 16, 8))))[:400]),
        ReadError,
    ),
    "truncated_nifti": (lambda t: _write(t / "cut.nii", nifti_bytes(RNG.random((16, 16, 8)))[:2000]), ReadError),
    "random_bytes_dcm": (lambda t: _write(t / "noise.dcm", RNG.bytes(5000)), ReadError),
    "truncated_dicom": (_truncated_dicom, ReadError),
    "truncated_png": (_truncated_png, ReadError),
    "two_series_folder": (_two_series, SeriesSelectionError),
    "folder_without_images": (_no_images, ReadError),
    "empty_folder": (lambda t: (t / "empty").mkdir() or t / "empty", ReadError),
    "zero_spacing_nifti": (
        lambda t: _write(t / "flat.nii.gz", nifti_bytes(np.ones((4, 4, 4)), (1.0, 0.0, 1.0))),
        GeometryError,
    ),
    "zero_spacing_nrrd": (lambda t: _nrrd(t / "flat.nrrd", "(0,0,0) (0,1,0) (0,0,1)", np.ones(8)), GeometryError),
    "zero_spacing_mha": (
        lambda t: _write(
            t / "flat.mha",
            b"ObjectType = Image\nNDims = 3\nDimSize = 2 2 2\n"
            b"ElementSpacing = 1 0 1\nElementType = MET_FLOAT\n"
            b"ElementDataFile = LOCAL\n" + np.ones(8, "<f4").tobytes(),
        ),
        GeometryError,
    ),
    "nan_spacing_nrrd": (
        lambda t: _write(
            t / "nan_sp.nrrd",
            b"NRRD0004\ntype: float\ndimension: 3\nsizes: 2 2 2\n"
            b"spacings: 1 nan 1\nendian: little\nencoding: raw\n\n" + np.ones(8, "<f4").tobytes(),
        ),
        GeometryError,
    ),
    "zero_size_nrrd": (
        lambda t: _write(
            t / "empty.nrrd",
            b"NRRD0004\ntype: float\ndimension: 3\nsizes: 0 2 2\nspacings: 1 1 1\nendian: little\nencoding: raw\n\n",
        ),
        InvalidImageError,
    ),
    "zero_size_mha": (
        lambda t: _write(
            t / "empty.mha",
            b"ObjectType = Image\nNDims = 3\nDimSize = 2 0 2\nElementType = MET_FLOAT\nElementDataFile = LOCAL\n",
        ),
        InvalidImageError,
    ),
    "five_d_nrrd": (
        lambda t: _write(
            t / "five.nrrd",
            b"NRRD0004\ntype: float\ndimension: 5\nsizes: 2 2 2 2 2\n"
            b"spacings: 1 1 1 1 1\nendian: little\nencoding: raw\n\n" + np.ones(32, "<f4").tobytes(),
        ),
        InvalidImageError,
    ),
    "duplicated_slices": (_duplicates, GeometryError),
    "nan_nifti": (
        lambda t: _write(t / "nan.nii.gz", nifti_bytes(np.where(np.eye(4)[..., None] > 0, np.nan, np.ones((4, 4, 2))))),
        InvalidImageError,
    ),
    "inf_nrrd": (
        lambda t: _nrrd(t / "inf.nrrd", "(1,0,0) (0,1,0) (0,0,1)", np.array([1, np.inf] * 4)),
        InvalidImageError,
    ),
    "zero_size_nifti": (lambda t: _write(t / "empty.nii", nifti_bytes(np.zeros(0), dims=(0, 4, 4))), InvalidImageError),
    "five_d_nifti": (
        lambda t: _write(t / "five.nii.gz", nifti_bytes(np.ones(4 * 4 * 4 * 2 * 3), dims=(4, 4, 4, 2, 3))),
        InvalidImageError,
    ),
    "unknown_extension": (lambda t: _write(t / "scan.xyz", RNG.bytes(1000)), UnsupportedFormatError),
    "text_file": (lambda t: _write(t / "notes.txt", b"hello\n" * 100), UnsupportedFormatError),
    "dangling_symlink": (_symlink, ReadError),
    "folder_named_nifti": (_dir_named_like_file, ReadError),
    "missing_path": (lambda t: t / "does_not_exist.nii.gz", ReadError),
}


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): (sha256_tree(p) if p.is_file() and not p.is_symlink() else "")
        for p in folder.rglob("*")
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_raises_one_clear_line(case: str, tmp_path: Path) -> None:
    make, expected = CASES[case]
    path = make(tmp_path)
    before = _snapshot(tmp_path)
    with pytest.raises(MedsrError) as err:
        read(path)
    assert type(err.value) is expected, f"{case}: {type(err.value).__name__}: {err.value}"
    msg = str(err.value)
    assert "\n" not in msg and "Remedy" in msg and path.name in msg, msg
    assert "Traceback" not in msg
    assert _snapshot(tmp_path) == before  # input bytes unchanged, nothing written


def test_nan_is_accepted_without_check(tmp_path: Path) -> None:
    path = _nrrd(tmp_path / "nan.nrrd", "(1,0,0) (0,1,0) (0,0,1)", np.array([np.nan] + [1.0] * 7))
    assert np.isnan(read(path, check=False).data).sum() == 1


def test_nan_in_nifti_found_although_itk_zeroes_it(tmp_path: Path) -> None:
    data = np.ones((3, 2, 2))
    data[1, 0, 1] = np.inf
    path = _write(tmp_path / "inf.nii.gz", nifti_bytes(data))
    with pytest.raises(InvalidImageError, match="1 voxel values"):
        read(path)
    assert float(read(path, check=False).data.max()) == 1.0  # ITK reads Inf as 0


def test_output_folder_that_does_not_exist(tmp_path: Path, small_volume: Image) -> None:
    for name in ("out.nii.gz", "out.png", "series"):
        with pytest.raises(OutputError) as err:
            write(small_volume, tmp_path / "missing" / name)
        msg = str(err.value)
        assert "\n" not in msg and "does not exist" in msg and "create it first" in msg and "Remedy" in msg
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name,error", [("out.xyz", UnsupportedFormatError), ("out.dcm", OutputError)])
def test_unwritable_output_names(tmp_path: Path, small_volume: Image, name: str, error: type) -> None:
    with pytest.raises(error) as err:
        write(small_volume, tmp_path / name, format="dicom" if name.endswith(".dcm") else None)
    assert "Remedy" in str(err.value) and name in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_unknown_dtype_names_the_output(tmp_path: Path, small_volume: Image) -> None:
    with pytest.raises(MedsrError, match="unknown output dtype") as err:
        write(small_volume, tmp_path / "a.nrrd", dtype="float16")
    assert "a.nrrd" in str(err.value) and list(tmp_path.iterdir()) == []


def test_zero_size_array_is_refused() -> None:
    with pytest.raises(InvalidImageError):
        Image(np.zeros((1, 0, 4, 4), np.float32))
