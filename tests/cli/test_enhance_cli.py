"""``medsr enhance`` through the command line: output grid, uncertainty, sidecar, report,
folder in/out with --continue, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medsr.cli.main import main
from medsr.geometry import upsample_grid
from medsr.image import Image, ImageMeta
from medsr.io import read, write


def _thick_volume(path: Path) -> Path:
    rng = np.random.default_rng(0)
    x, y, z = np.meshgrid(np.linspace(-1, 1, 40), np.linspace(-1, 1, 36), np.linspace(-1, 1, 8), indexing="ij")
    vol = 100 * ((x**2 + y**2 + z**2) < 0.6) + 40 * np.sin(6 * x) * np.cos(5 * y) + rng.normal(0, 2, x.shape)
    img = Image(vol[None].astype(np.float32), (0.8, 0.8, 4.0), (10.0, -5.0, 2.0), meta=ImageMeta(modality="MR"))
    write(img, path)
    return path


def test_enhance_writes_output_uncertainty_sidecar_report(tmp_path: Path) -> None:
    src = _thick_volume(tmp_path / "thick.nii.gz")
    out = tmp_path / "iso.nii.gz"
    assert (
        main(
            [
                "enhance",
                str(src),
                "-o",
                str(out),
                "--time-budget",
                "2",
                "--threads",
                "1",
                "--report",
                str(tmp_path / "rep"),
                "-q",
            ]
        )
        == 0
    )
    lr, sr = read(src), read(out)
    expected = upsample_grid(lr.grid, spacing=(0.8, 0.8, 0.8))
    assert sr.shape == expected.shape == (40, 36, 40)
    np.testing.assert_allclose(sr.grid.fov_corners(), lr.grid.fov_corners(), atol=1e-4)
    unc = read(tmp_path / "iso_uncertainty.nii.gz")
    assert unc.shape == sr.shape and float(unc.data.min()) >= 0
    side = json.loads((tmp_path / "iso.json").read_text())
    assert side["command"] == "enhance" and side["input_file"] == str(src)
    assert side["thickness_assumed"] is True and side["input_slice_thickness_mm"] == pytest.approx(4.0)
    assert side["data_consistency"]["relative_error_after"] < 1e-3
    assert (tmp_path / "rep" / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_enhance_steps_repeat_exactly(tmp_path: Path) -> None:
    """--steps fixes the training length, so two runs with the same seed give the same voxels
    and the sidecar records the step count."""
    src = _thick_volume(tmp_path / "thick.nii.gz")
    outs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.nii.gz"
        assert main(["enhance", str(src), "-o", str(out), "--steps", "7", "--threads", "1", "-q"]) == 0
        outs.append(read(out).data)
        assert json.loads((tmp_path / f"{name}.json").read_text())["training"]["steps"] == 7
    np.testing.assert_array_equal(outs[0], outs[1])


def test_enhance_folder_with_continue(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    scans = tmp_path / "scans"
    scans.mkdir()
    _thick_volume(scans / "a.nii.gz")
    out = tmp_path / "out"
    args = ["enhance", str(scans), "-o", str(out), "--time-budget", "1", "--threads", "1", "--continue"]
    assert main(args) == 0
    first = (out / "a.nii.gz").stat().st_mtime_ns
    capsys.readouterr()
    assert main(args) == 0
    assert "skipping 1 finished" in capsys.readouterr().out
    assert (out / "a.nii.gz").stat().st_mtime_ns == first


def test_enhance_refuses_isotropic(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    img = Image(np.ones((1, 10, 10, 10), np.float32), (1.0, 1.0, 1.1))
    src = tmp_path / "iso.nii.gz"
    write(img, src)
    assert main(["enhance", str(src), "-o", str(tmp_path / "o.nii.gz")]) == 2
    err = capsys.readouterr().err
    assert "Remedy" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.nii.gz").exists()


def test_enhance_interval_unsure_mask_and_trust_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = _thick_volume(tmp_path / "thick.nii.gz")
    out = tmp_path / "iso.nii.gz"
    args = ["enhance", str(src), "-o", str(out), "--steps", "20", "--threads", "1"]
    assert main([*args, "--uncertainty-interval", "0.9", "--flag-unsure", "--unsure-threshold", "5"]) == 0
    printed = capsys.readouterr().out
    assert "trust:" in printed and "expected to be off by more than 5" in printed
    unc, half = read(tmp_path / "iso_uncertainty.nii.gz"), read(tmp_path / "iso_interval90.nii.gz")
    unsure = read(tmp_path / "iso_unsure.nii.gz")
    side = json.loads((tmp_path / "iso.json").read_text())
    u = side["uncertainty"]
    q = u["calibration"]["model"]["interval_quantiles"]["0.9"]
    np.testing.assert_allclose(half.data, q * unc.data, rtol=1e-4, atol=1e-4)
    assert set(np.unique(unsure.data)) <= {0, 1}
    flagged = int(unsure.data.sum())
    assert flagged == u["trust"]["unsure_voxels"] and flagged == int(((unc.data > 5) & (unsure.data > 0)).sum())
    assert u["trust"]["threshold"] == 5.0 and u["trust"]["rule"] == "given"
    files = u["files"]
    assert files["interval"].endswith("iso_interval90.nii.gz") and files["unsure"].endswith("iso_unsure.nii.gz")
    assert files["uncertainty"].endswith("iso_uncertainty.nii.gz")
    # a level that is not calibrated is refused by the parser, before any work
    with pytest.raises(SystemExit) as exc:
        main([*args, "--uncertainty-interval", "0.7", "--overwrite"])
    assert exc.value.code == 2


def test_protocol_bundle_through_predict_writes_the_calibrated_map(tmp_path: Path, monkeypatch) -> None:
    src = _thick_volume(tmp_path / "thick.nii.gz")
    bundle = tmp_path / "protocol.safetensors"
    args = ["enhance", str(src), "-o", str(tmp_path / "a.nii.gz"), "--steps", "20", "--threads", "1", "-q"]
    assert main([*args, "--save-model", str(bundle)]) == 0
    out = tmp_path / "b.nii.gz"
    assert main(["predict", "-i", str(src), "-o", str(out), "-m", str(bundle), "--threads", "1", "-q"]) == 0
    side = json.loads((tmp_path / "b.json").read_text())
    unc = read(tmp_path / "b_uncertainty.nii.gz")
    assert side["uncertainty"]["files"]["uncertainty"].endswith("b_uncertainty.nii.gz")
    assert side["uncertainty"]["calibration"]["calibrated"] and float(unc.data.max()) > 0
    # the map is one of its outputs: an existing one is refused before any work, and kept
    stale = tmp_path / "c_uncertainty.nii.gz"
    stale.write_bytes(b"keep")
    import importlib

    module = importlib.import_module("medsr.selfsup.enhance")
    monkeypatch.setattr(module, "enhance", lambda *a, **k: pytest.fail("ran before checking outputs"))
    assert main(["predict", "-i", str(src), "-o", str(tmp_path / "c.nii.gz"), "-m", str(bundle), "-q"]) == 2
    assert stale.read_bytes() == b"keep" and not (tmp_path / "c.nii.gz").exists()
