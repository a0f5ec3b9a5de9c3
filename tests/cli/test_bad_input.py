"""Bad input through the command line: one line naming the file and a remedy, exit code 2,
no traceback, nothing written, the input unchanged."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from medsr.cli.main import main

from ..conftest import DATA


def _sitk_write(arr: np.ndarray, path: Path, spacing=(1.0, 1.0, 1.0)) -> Path:
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing[: img.GetDimension()])
    sitk.WriteImage(img, str(path))
    return path


def _nrrd(path: Path, sizes: str, spacings: str, n_values: int) -> Path:
    header = (
        f"NRRD0004\ntype: float\ndimension: {len(sizes.split())}\nsizes: {sizes}\n"
        f"spacings: {spacings}\nendian: little\nencoding: raw\n\n"
    )
    path.write_bytes(header.encode() + np.zeros(n_values, "<f4").tobytes())
    return path


def truncated_nifti(d: Path) -> Path:
    p = _sitk_write(np.random.default_rng(0).random((8, 9, 10), dtype=np.float32), d / "cut.nii.gz")
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    return p


def random_dcm(d: Path) -> Path:
    p = d / "noise.dcm"
    p.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return p


def mixed_series(d: Path) -> Path:
    import pydicom

    src = DATA / "dicom" / "mr_brain_series"
    if not src.exists():
        pytest.skip("shared DICOM series not available")
    folder = d / "mixed"
    folder.mkdir()
    for i, f in enumerate(sorted(src.glob("*.dcm"))[1:7]):
        ds = pydicom.dcmread(f)
        if i % 2:
            ds.SeriesInstanceUID = ds.SeriesInstanceUID + ".9"
            ds.SeriesDescription = "second series"
        ds.save_as(folder / f"img{i:02d}")
    return folder


def empty_folder(d: Path) -> Path:
    folder = d / "nothing_here"
    folder.mkdir()
    (folder / "notes.txt").write_text("no images in this folder\n")
    return folder


def zero_spacing(d: Path) -> Path:
    return _nrrd(d / "zero_spacing.nrrd", "4 5 6", "1 0 1", 120)


def missing_spacing(d: Path) -> Path:
    return _nrrd(d / "nan_spacing.nrrd", "4 5 6", "1 nan 1", 120)


def nan_values(d: Path) -> Path:
    arr = np.ones(120, "<f4")
    arr[7], arr[50] = np.nan, np.inf
    p = _nrrd(d / "nan.nrrd", "4 5 6", "1 1 1", 0)
    p.write_bytes(p.read_bytes() + arr.tobytes())
    return p


def zero_size(d: Path) -> Path:
    return _nrrd(d / "empty.nrrd", "0 5 6", "1 1 1", 0)


def five_d(d: Path) -> Path:
    p = d / "five_d.nrrd"
    header = (
        "NRRD0004\ntype: float\ndimension: 5\nsizes: 2 3 4 5 6\nspacings: 1 1 1 1 1\nendian: little\nencoding: raw\n\n"
    )
    p.write_bytes(header.encode() + np.zeros(720, "<f4").tobytes())
    return p


def unknown_extension(d: Path) -> Path:
    p = d / "scan.xyz"
    p.write_bytes(b"not an image format medsr knows")
    return p


def unreadable(d: Path) -> Path:
    p = d / "gone.nii.gz"
    os.symlink(d / "does_not_exist.nii.gz", p)  # root can read any mode bits; a dangling link it cannot
    return p


CASES: dict[str, Callable[[Path], Path]] = {
    "truncated-nifti": truncated_nifti,
    "random-bytes-dcm": random_dcm,
    "mixed-series": mixed_series,
    "no-images": empty_folder,
    "zero-spacing": zero_spacing,
    "missing-spacing": missing_spacing,
    "nan-inf": nan_values,
    "zero-size": zero_size,
    "5-d": five_d,
    "unknown-extension": unknown_extension,
    "unreadable": unreadable,
}


def _snapshot(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif p.is_symlink() or p.is_dir():
            out[str(p.relative_to(folder))] = "link-or-dir"
    return out


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("verb", ["upsample", "info"])
def test_bad_input_one_line_exit_2(case: str, verb: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    bad = CASES[case](inputs)
    before = _snapshot(inputs)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    argv = [verb, str(bad)] + ([str(out_dir / "up.nii.gz"), "--factors", "1", "1", "2"] if verb == "upsample" else [])
    if verb == "info" and case in ("mixed-series", "nan-inf"):
        return  # describing these is what info is for: see test_info_lists_series, test_info_counts_nan
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert "Remedy" in err and "Traceback" not in err
    assert bad.name in err, err
    assert list(out_dir.iterdir()) == []
    assert _snapshot(inputs) == before


def test_output_folder_missing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    good = _sitk_write(np.ones((6, 5, 4), np.float32), tmp_path / "good.nii.gz")
    target = tmp_path / "no" / "such" / "up.nii.gz"
    code = main(["upsample", str(good), str(target), "--factors", "1", "1", "2"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Remedy" in err
    assert "no" in err and not (tmp_path / "no").exists()


def test_input_is_never_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    good = _sitk_write(np.ones((6, 5, 4), np.float32), tmp_path / "good.nii.gz")
    digest = hashlib.sha256(good.read_bytes()).hexdigest()
    for extra in ([], ["--overwrite"]):
        code = main(["upsample", str(good), str(good), "--factors", "1", "1", "2", *extra])
        assert code == 2
        assert "Remedy" in capsys.readouterr().err
    assert hashlib.sha256(good.read_bytes()).hexdigest() == digest


def test_existing_output_needs_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    good = _sitk_write(np.ones((6, 5, 4), np.float32), tmp_path / "good.nii.gz")
    out = tmp_path / "up.nii.gz"
    assert main(["upsample", str(good), str(out), "--factors", "1", "1", "2"]) == 0
    first = out.stat().st_mtime_ns
    assert main(["upsample", str(good), str(out), "--factors", "1", "1", "2"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert out.stat().st_mtime_ns == first
    assert main(["upsample", str(good), str(out), "--factors", "1", "1", "2", "--overwrite"]) == 0


def test_real_process_has_no_traceback(tmp_path: Path) -> None:
    bad = random_dcm(tmp_path)
    exe = shutil.which("medsr") or ""
    cmd = [exe] if exe else [sys.executable, "-m", "medsr"]
    res = subprocess.run([*cmd, "info", str(bad)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    dbg = subprocess.run([*cmd, "--debug", "info", str(bad)], capture_output=True, text=True, timeout=120)
    assert dbg.returncode != 0 and "Traceback" in dbg.stderr


def test_info_lists_series(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = mixed_series(tmp_path)
    assert main(["info", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "2 series in the folder" in out and "second series" in out
    assert main(["info", str(folder), "--series", "1"]) == 0
    assert "shape" in capsys.readouterr().out


def test_info_counts_nan(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import json

    assert main(["info", str(nan_values(tmp_path)), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["nonfinite"] == 2


def test_allow_nan_passes_the_inputs_nan_through(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import numpy as np

    from medsr.cli.main import main
    from medsr.image import Image
    from medsr.io import read, write

    data = np.ones((1, 6, 6, 4), np.float32)
    data[0, 2, 2, 1] = np.nan
    src = tmp_path / "nan.nrrd"
    write(Image(np.nan_to_num(data), spacing=(1, 1, 2)), src)
    import SimpleITK as sitk

    img = sitk.ReadImage(str(src))
    arr = sitk.GetArrayFromImage(img)
    arr[1, 2, 2] = np.nan
    out_img = sitk.GetImageFromArray(arr)
    out_img.CopyInformation(img)
    sitk.WriteImage(out_img, str(src))
    args = ["upsample", str(src), str(tmp_path / "up.nrrd"), "--factors", "1", "1", "2", "--method", "linear"]
    assert main(args) == 2 and "NaN" in capsys.readouterr().err
    assert not (tmp_path / "up.nrrd").exists()
    assert main([*args, "--allow-nan"]) == 0
    assert np.isnan(read(tmp_path / "up.nrrd", check=False).data).any()
