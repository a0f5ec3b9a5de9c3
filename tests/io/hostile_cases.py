"""Builders of the hostile / broken input corpus (issue 8); each returns ``(argv, inputs)``.

Every builder writes its inputs under ``src`` (and sometimes a secret beside it), and returns
the medsr command line to run and the input paths whose bytes must not change. Outputs go to
``out``, which must still be empty (or unchanged) afterwards.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np

Case = Callable[[Path, Path], tuple[list[str], list[Path]]]
CASES: dict[str, Case] = {}


def case(name: str) -> Callable[[Case], Case]:
    def add(fn: Case) -> Case:
        CASES[name] = fn
        return fn

    return add


def _mhd(src: Path, name: str = "a", **fields: str) -> Path:
    """A valid 4×3×2 MET_SHORT MetaImage header + raw, with ``fields`` replacing header lines."""
    raw = src / f"{name}.raw"
    raw.write_bytes(np.arange(24, dtype="<i2").tobytes())
    keys = {
        "ObjectType": "Image", "NDims": "3", "BinaryData": "True", "BinaryDataByteOrderMSB": "False",
        "CompressedData": "False", "TransformMatrix": "1 0 0 0 1 0 0 0 1", "Offset": "0 0 0",
        "ElementSpacing": "1 1 2", "DimSize": "4 3 2", "ElementType": "MET_SHORT",
        "ElementDataFile": raw.name,
    }  # fmt: skip
    keys.update(fields)
    head = src / f"{name}.mhd"
    body = "".join(f"{k} = {v}\n" for k, v in keys.items() if k != "ElementDataFile")
    head.write_text(body + (f"ElementDataFile = {keys['ElementDataFile']}\n" if keys["ElementDataFile"] else ""))
    return head


def _nhdr(src: Path, name: str = "a", **fields: str) -> Path:
    raw = src / f"{name}.raw"
    raw.write_bytes(np.arange(24, dtype="<f4").tobytes())
    keys = {
        "type": "float", "dimension": "3", "space": "left-posterior-superior", "sizes": "4 3 2",
        "space directions": "(1,0,0) (0,1,0) (0,0,2)", "endian": "little", "encoding": "raw",
        "space origin": "(0,0,0)", "data file": raw.name,
    }  # fmt: skip
    keys.update(fields)
    head = src / f"{name}.nhdr"
    head.write_text("NRRD0004\n" + "".join(f"{k}: {v}\n" for k, v in keys.items()))
    return head


def _nifti(dims: tuple[int, ...], code: int = 16, bitpix: int = 32, data: bytes | None = None) -> bytes:
    head = bytearray(352)
    head[0:4] = np.int32(348).tobytes()
    dim = np.ones(8, np.int16)
    dim[0] = len(dims)
    dim[1 : 1 + len(dims)] = dims
    head[40:56] = dim.tobytes()
    head[70:72] = np.int16(code).tobytes()
    head[72:74] = np.int16(bitpix).tobytes()
    head[76:108] = np.ones(8, np.float32).tobytes()
    head[108:112] = np.float32(352).tobytes()
    head[344:348] = b"n+1\x00"
    n = int(np.prod(dims)) * bitpix // 8
    return bytes(head) + (data if data is not None else bytes(min(n, 1 << 16)))


def _info(path: Path) -> list[str]:
    return ["info", str(path)]


def _up(path: Path, out: Path, *extra: str) -> list[str]:
    return ["upsample", str(path), str(out / "o.nii.gz"), "--factors", "1", "1", "2", *extra]


# -- confinement ---------------------------------------------------------------------------------
@case("mhd_data_file_etc_passwd")
def _c1(src: Path, out: Path):
    return _up(_mhd(src, ElementDataFile="/etc/passwd"), out), [src]


@case("mhd_data_file_dotdot")
def _c2(src: Path, out: Path):
    (src.parent / "secret.raw").write_bytes(bytes(48))
    return _up(_mhd(src, ElementDataFile="../secret.raw"), out), [src, src.parent / "secret.raw"]


@case("mhd_data_file_proc_environ")
def _c3(src: Path, out: Path):
    return _up(_mhd(src, ElementDataFile="/proc/self/environ"), out), [src]


@case("mhd_data_file_named_pipe")
def _c4(src: Path, out: Path):
    os.mkfifo(src / "pipe.raw")
    return _up(_mhd(src, ElementDataFile="pipe.raw"), out), []


@case("mhd_data_file_link_out")
def _c5(src: Path, out: Path):
    (src.parent / "secret.raw").write_bytes(bytes(48))
    (src / "link.raw").symlink_to(src.parent / "secret.raw")
    return _up(_mhd(src, ElementDataFile="link.raw"), out), [src.parent / "secret.raw"]


@case("mhd_data_file_list_out")
def _c6(src: Path, out: Path):
    head = _mhd(src, ElementDataFile="LIST 2D")
    with open(head, "a") as fh:
        fh.write("a.raw\n/etc/passwd\n")
    return _up(head, out), [src]


@case("mhd_data_file_pattern_out")
def _c7(src: Path, out: Path):
    return _up(_mhd(src, ElementDataFile="../s%d.raw 1 2 1"), out), [src]


@case("mhd_data_file_short")
def _c8(src: Path, out: Path):
    head = _mhd(src)
    (src / "a.raw").write_bytes(bytes(10))
    return _up(head, out), [src]


@case("nhdr_data_file_etc_passwd")
def _c9(src: Path, out: Path):
    return _up(_nhdr(src, **{"data file": "/etc/passwd"}), out), [src]


@case("nhdr_data_file_dotdot")
def _c10(src: Path, out: Path):
    (src.parent / "secret.raw").write_bytes(bytes(96))
    return _up(_nhdr(src, **{"data file": "../secret.raw"}), out), [src.parent / "secret.raw"]


@case("nhdr_data_file_named_pipe")
def _c11(src: Path, out: Path):
    os.mkfifo(src / "pipe.raw")
    return _up(_nhdr(src, **{"data file": "pipe.raw"}), out), []


@case("nhdr_data_file_list_out")
def _c12(src: Path, out: Path):
    head = _nhdr(src, **{"data file": "LIST"})
    with open(head, "a") as fh:
        fh.write("\n../../etc/passwd\n")
    return _up(head, out), [src]


# -- crafted MetaImage / NRRD / NIfTI headers ------------------------------------------------------
_MHD_BAD = {
    "mhd_ndims_negative": {"NDims": "-99999"},
    "mhd_dimsize_zero": {"DimSize": "0 0 0"},
    "mhd_dimsize_huge": {"DimSize": "100000 100000 100000"},
    "mhd_transform_1e308": {"TransformMatrix": "1e308 0 0 0 1 0 0 0 1"},
    "mhd_transform_not_rotation": {"TransformMatrix": "2 0 0 0 1 0 0 0 1"},
    "mhd_element_type_unknown": {"ElementType": "MET_GARBAGE"},
    "mhd_spacing_nan": {"ElementSpacing": "nan 1 1"},
    "mhd_channels_negative": {"ElementNumberOfChannels": "-5"},
    "mhd_compressed_garbage": {"CompressedData": "True"},
    "mhd_header_size_negative": {"HeaderSize": "-50"},
    "mhd_no_data_file": {"ElementDataFile": ""},
    "mhd_dimsize_words": {"DimSize": "four three two"},
}
for _name, _fields in _MHD_BAD.items():
    CASES[_name] = lambda src, out, f=_fields: (_up(_mhd(src, **f), out), [src])

_NRRD_BAD = {
    "nrrd_dimension_99": {"dimension": "99"},
    "nrrd_sizes_negative": {"sizes": "4 -3 2"},
    "nrrd_type_complex": {"type": "complex"},
    "nrrd_encoding_unknown": {"encoding": "weird"},
    "nrrd_directions_inf": {"space directions": "(inf,0,0) (0,1,0) (0,0,2)"},
}
for _name, _fields in _NRRD_BAD.items():
    CASES[_name] = lambda src, out, f=_fields: (_up(_nhdr(src, **f), out), [src])


@case("nifti_complex")
def _c20(src: Path, out: Path):
    p = src / "c.nii"
    p.write_bytes(_nifti((4, 3, 2), code=32, bitpix=64, data=bytes(24 * 8)))
    return _up(p, out), [src]


@case("nifti_unknown_datatype")
def _c21(src: Path, out: Path):
    p = src / "u.nii"
    p.write_bytes(_nifti((4, 3, 2), code=999, bitpix=8, data=bytes(24)))
    return _up(p, out), [src]


@case("nifti_gz_bomb")
def _c22(src: Path, out: Path):
    p = src / "bomb.nii.gz"
    p.write_bytes(gzip.compress(_nifti((4000, 4000, 4000)) + bytes(1 << 20)))
    return _up(p, out), [src]


@case("nifti_dims_huge")
def _c23(src: Path, out: Path):
    p = src / "h.nii"
    p.write_bytes(_nifti((32000, 32000, 32000)))
    return _info(p), [src]


# -- configs and bundles ---------------------------------------------------------------------------
@case("yaml_alias_bomb")
def _c30(src: Path, out: Path):
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        lines.append(f"{chr(ord('a') + i)}: &{chr(ord('a') + i)} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]")
    cfg = src / "bomb.yaml"
    cfg.write_text("\n".join(lines) + "\n")
    return ["train", "--config", str(cfg), "--out", str(out / "run")], [src]


@case("yaml_deeply_nested")
def _c31(src: Path, out: Path):
    cfg = src / "deep.yaml"
    cfg.write_text("data: " + "[" * 5000 + "]" * 5000 + "\n")
    return ["train", "--config", str(cfg), "--out", str(out / "run")], [src]


def _bundle(path: Path, meta: dict | str, tensors: bytes = b"") -> Path:
    text = meta if isinstance(meta, str) else json.dumps(meta)
    from medsr.models.bundle_meta import META_KEY

    header = json.dumps({"__metadata__": {META_KEY: text}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + tensors)
    return path


def _lr_png(src: Path) -> Path:
    from PIL import Image as PILImage

    p = src / "lr.png"
    PILImage.fromarray((np.arange(64 * 64) % 251).astype(np.uint8).reshape(64, 64)).save(p)
    return p


@case("bundle_json_deep")
def _c32(src: Path, out: Path):
    b = _bundle(src / "deep.safetensors", '{"a":' * 20000 + "1" + "}" * 20000)
    return ["predict", "-i", str(_lr_png(src)), "-o", str(out), "-m", str(b)], [src]


@case("bundle_header_deep")
def _c33(src: Path, out: Path):
    header = ("[" * 50000 + "]" * 50000).encode()
    b = src / "deep2.safetensors"
    b.write_bytes(struct.pack("<Q", len(header)) + header)
    return ["predict", "-i", str(_lr_png(src)), "-o", str(out), "-m", str(b)], [src]


@case("bundle_depth_1e7")
def _c34(src: Path, out: Path):
    from medsr.models.bundle import read_bundle_meta
    from medsr.models.bundle_meta import META_KEY

    shipped = Path(__file__).resolve().parents[2] / "src/medsr/data/bundles/xray-x4.safetensors"
    meta = read_bundle_meta(shipped).to_dict()
    meta["arch_kwargs"] = {**meta.get("arch_kwargs", {}), "depth": 10**7}
    n = struct.unpack("<Q", shipped.read_bytes()[:8])[0]
    header = json.loads(shipped.read_bytes()[8 : 8 + n])
    header["__metadata__"][META_KEY] = json.dumps(meta)
    new = json.dumps(header).encode()
    b = src / "huge.safetensors"
    b.write_bytes(struct.pack("<Q", len(new)) + new + shipped.read_bytes()[8 + n :])
    return ["predict", "-i", str(_lr_png(src)), "-o", str(out), "-m", str(b)], [src]


# -- 2D bombs --------------------------------------------------------------------------------------
def _png_header(width: int, height: int, bit_depth: int, colour: int) -> bytes:
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    idat = zlib.compress(bytes(1 << 16))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@case("png16_colour_196_mpixel")
def _c40(src: Path, out: Path):
    p = src / "big16.png"
    p.write_bytes(_png_header(14000, 14000, 16, 2))
    return _info(p), [src]


@case("png8_grey_400_mpixel")
def _c41(src: Path, out: Path):
    p = src / "big8.png"
    p.write_bytes(_png_header(20000, 20000, 8, 0))
    return _info(p), [src]


# -- DICOM positions ---------------------------------------------------------------------------------
def _series(src: Path, mutate: Callable[[object], None]) -> Path:
    import pydicom

    from tests.io.io_fixtures import ct_volume, make_ct_series

    folder = src / "ct"
    make_ct_series(folder, ct_volume())
    files = sorted(folder.iterdir())
    ds = pydicom.dcmread(files[len(files) // 2])
    mutate(ds)
    ds.save_as(files[len(files) // 2])
    return folder


@case("dicom_one_position_missing")
def _c50(src: Path, out: Path):
    return _up(_series(src, lambda ds: delattr(ds, "ImagePositionPatient")), out), [src]


@case("dicom_one_position_nan")
def _c51(src: Path, out: Path):
    def nan(ds):
        ds.ImagePositionPatient = ["nan", "0", "0"]

    return _up(_series(src, nan), out), [src]


# -- outputs that would destroy inputs ----------------------------------------------------------------
def _vol(path: Path, offset: tuple[float, float, float] = (0, 0, 0), two_d: bool = False) -> Path:
    import SimpleITK as sitk

    arr = np.random.default_rng(0).random((2, 12, 12) if not two_d else (12, 12)).astype(np.float32) * 100
    img = sitk.GetImageFromArray(arr)
    img.SetOrigin(offset if not two_d else offset[:2])
    if not two_d:
        img.SetSpacing((1, 1, 4))
    sitk.WriteImage(img, str(path))
    return path


@case("evaluate_json_is_prediction")
def _c60(src: Path, out: Path):
    ref, pred = _vol(src / "ref.nii.gz"), _vol(src / "pred.nii.gz")
    return ["evaluate", "--reference", str(ref), "--prediction", str(pred), "--json", str(pred), "--overwrite"], [src]


@case("evaluate_figure_is_reference")
def _c61(src: Path, out: Path):
    ref, pred = _vol(src / "ref.nii.gz"), _vol(src / "pred.nii.gz")
    return ["evaluate", "--reference", str(ref), "--prediction", str(pred), "--figure", str(ref), "--overwrite"], [src]


@case("evaluate_csv_is_reference_link")
def _c62(src: Path, out: Path):
    ref, pred = _vol(src / "ref.nii.gz"), _vol(src / "pred.nii.gz")
    (out / "link.csv").symlink_to(ref)
    return ["evaluate", "--reference", str(ref), "--prediction", str(pred), "--csv", str(out / "link.csv"),
            "--overwrite"], [src]  # fmt: skip


@case("mhd_output_over_input_raw")
def _c63(src: Path, out: Path):
    other = _mhd(src, "other")  # other.raw is an input's data file
    head = _mhd(src, "a", ElementDataFile="other.raw")
    return ["upsample", str(head), str(src / "other.mhd"), "--factors", "1", "1", "2", "--overwrite"], [other, src]


@case("overwrite_foreign_folder")
def _c64(src: Path, out: Path):
    folder = src / "ct"
    from tests.io.io_fixtures import ct_volume, make_ct_series

    make_ct_series(folder, ct_volume())
    victim = out / "papers"
    victim.mkdir()
    (victim / "thesis.txt").write_text("years of work")
    return ["upsample", str(folder), str(victim), "--factors", "1", "1", "2", "--overwrite"], [src, victim]


@case("evaluate_2d_vs_3d")
def _c65(src: Path, out: Path):
    ref, pred = _vol(src / "ref.nii.gz"), _vol(src / "pred.nii.gz", two_d=True)
    return ["evaluate", "--reference", str(ref), "--prediction", str(pred)], [src]


@case("evaluate_disjoint_fov")
def _c66(src: Path, out: Path):
    ref, pred = _vol(src / "ref.nii.gz"), _vol(src / "pred.nii.gz", offset=(10_000.0, 0, 0))
    return ["evaluate", "--reference", str(ref), "--prediction", str(pred)], [src]


@case("upsample_factors_huge")
def _c67(src: Path, out: Path):
    return ["upsample", str(_vol(src / "v.nii.gz")), str(out / "o.nii.gz"), "--factors", "900", "900", "900"], [src]


@case("enhance_factors_1e6")
def _c68(src: Path, out: Path):
    return ["enhance", str(_vol(src / "v.nii.gz")), "-o", str(out / "o.nii.gz"), "--factors", "1", "1", "1e6"], [src]


@case("enhance_existing_uncertainty")
def _c69(src: Path, out: Path):
    v = src / "v.nii.gz"
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.random.default_rng(0).random((6, 32, 32)).astype(np.float32))
    img.SetSpacing((1, 1, 4))
    sitk.WriteImage(img, str(v))
    (out / "o_uncertainty.nii.gz").write_bytes(b"mine")
    return ["enhance", str(v), "-o", str(out / "o.nii.gz")], [src, out / "o_uncertainty.nii.gz"]


@case("enhance_existing_report")
def _c70(src: Path, out: Path):
    import SimpleITK as sitk

    v = src / "v.nii.gz"
    img = sitk.GetImageFromArray(np.random.default_rng(0).random((6, 32, 32)).astype(np.float32))
    img.SetSpacing((1, 1, 4))
    sitk.WriteImage(img, str(v))
    (out / "rep").mkdir()
    (out / "rep" / "report.html").write_text("my notes")
    return ["enhance", str(v), "-o", str(out / "o.nii.gz"), "--report", str(out / "rep")], [src, out / "rep"]


@case("output_inside_dicom_input")
def _c71(src: Path, out: Path):
    from tests.io.io_fixtures import ct_volume, make_ct_series

    folder = src / "ct"
    make_ct_series(folder, ct_volume())
    return ["upsample", str(folder), str(folder / "x.nii.gz"), "--factors", "1", "1", "2"], [src]


@case("dicom_warning_then_broken_tag")
def _c80(src: Path, out: Path):
    """No PixelSpacing (a warning) and a tag whose VR is garbage (the error): one line, the error."""
    from tests.io.io_fixtures import make_single

    p = make_single(src / "x.dcm", (np.arange(120).reshape(12, 10) % 50).astype(np.uint16), bits=16)
    raw = p.read_bytes()
    tag = b"\x08\x00\x3e\x10"  # (0008,103E) SeriesDescription, explicit VR "LO"
    at = raw.index(tag)
    p.write_bytes(raw[: at + 4] + b"L_" + raw[at + 6 :])
    return _info(p), [src]
