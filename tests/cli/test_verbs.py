"""The issue-2 verbs end to end on real scans, checked against the referee where it applies."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medsr.cli.main import main

from ..acquisition.referee_case import mni_case, read_image, run_referee


def _sitk_array(path: Path) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(sitk.ReadImage(str(path))).astype(np.float64)


@pytest.mark.slow
def test_degrade_matches_referee_make(tmp_path: Path, tmp_path_factory, mni_path: Path) -> None:
    case = mni_case(tmp_path_factory, (1, 1, 4))
    out = tmp_path / "lr.nii.gz"
    assert main(["degrade", str(mni_path), str(out), "--factors", "1", "1", "4", "--profile", "rect", "-q"]) == 0
    ours, ref = read_image(out), read_image(case / "lr.nii.gz")
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours.spacing, ref.spacing)
    np.testing.assert_allclose(ours.origin, ref.origin, atol=1e-6)
    assert float(np.abs(ours.data - ref.data).max()) < 1e-4
    side = json.loads((tmp_path / "lr.json").read_text())
    assert side["command"] == "degrade" and side["acquisition_model"]["factors"] == [1.0, 1.0, 4.0]


@pytest.mark.slow
def test_upsample_and_evaluate_agree_with_referee(tmp_path: Path, tmp_path_factory) -> None:
    case = mni_case(tmp_path_factory, (1, 1, 4), with_baseline=True)
    base = json.loads((case / "baseline.json").read_text())["bspline3"]
    up = tmp_path / "bspline.nii.gz"
    assert (
        main(["upsample", str(case / "lr.nii.gz"), str(up), "--factors", "1", "1", "4", "--method", "bspline", "-q"])
        == 0
    )
    scored = run_referee("score", case, up)
    assert scored["resampled"] is False
    assert abs(scored["psnr"] - base["psnr"]) <= 0.05
    js = tmp_path / "scores.json"
    fig = tmp_path / "cmp.png"
    assert (
        main(
            [
                "evaluate",
                "--reference",
                str(case / "hr.nii.gz"),
                "--prediction",
                str(up),
                "--factors",
                "1",
                "1",
                "4",
                "--json",
                str(js),
                "--figure",
                str(fig),
                "-q",
            ]
        )
        == 0
    )
    row = json.loads(js.read_text())["rows"][0]
    assert abs(row["psnr"] - scored["psnr"]) <= 0.01
    assert abs(row["ssim"] - scored["ssim"]) <= 1e-3
    assert fig.read_bytes()[:4] == b"\x89PNG"


def test_evaluate_with_lr_adds_baselines(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from medsr.acquisition import degrade
    from medsr.io import read, write
    from medsr.samples import sample_path

    hr = read(sample_path("mni-t1"))
    write(hr, tmp_path / "hr.nii.gz")
    write(degrade(hr, (1, 1, 4)), tmp_path / "lr.nii.gz")
    csv = tmp_path / "t.csv"
    assert (
        main(
            [
                "evaluate",
                "--reference",
                str(tmp_path / "hr.nii.gz"),
                "--prediction",
                str(tmp_path / "hr.nii.gz"),
                "--names",
                "perfect",
                "--lr",
                str(tmp_path / "lr.nii.gz"),
                "--factors",
                "1",
                "1",
                "4",
                "--csv",
                str(csv),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "perfect" in out and "bspline" in out and "linear" in out
    lines = csv.read_text().splitlines()
    assert lines[0].startswith("name,psnr,ssim") and len(lines) == 4
    rows = {r.split(",")[0]: r.split(",") for r in lines[1:]}
    assert float(rows["linear"][1]) < float(rows["bspline"][1])  # B-spline beats linear on MNI
    assert rows["perfect"][1] == "inf" and float(rows["perfect"][2]) == pytest.approx(1.0)


def test_upsample_dicom_series_gives_derived_series(tmp_path: Path, dicom_series_dir: Path) -> None:
    import SimpleITK as sitk

    out = tmp_path / "derived"
    assert main(["upsample", str(dicom_series_dir), str(out), "--factors", "1", "1", "2", "-q"]) == 0
    files = sorted(out.iterdir())
    assert len(files) == 40
    r = sitk.ImageSeriesReader()
    r.SetFileNames(r.GetGDCMSeriesFileNames(str(out)))
    img = r.Execute()
    src = read_image_series(dicom_series_dir)
    assert img.GetSize()[2] == 40
    np.testing.assert_allclose(img.GetSpacing()[2], src.GetSpacing()[2] / 2, rtol=1e-3)
    np.testing.assert_allclose(img.GetDirection(), src.GetDirection(), atol=1e-5)
    assert (tmp_path / "derived.json").exists()


def read_image_series(folder: Path):
    import SimpleITK as sitk

    r = sitk.ImageSeriesReader()
    r.SetFileNames(r.GetGDCMSeriesFileNames(str(folder)))
    return r.Execute()


def test_mask_verb_on_ct(tmp_path: Path, ct_path: Path) -> None:
    out = tmp_path / "mask.nii.gz"
    assert main(["mask", str(ct_path), str(out), "-q"]) == 0
    m = _sitk_array(out)
    assert set(np.unique(m)) <= {0.0, 1.0}
    assert 0.2 < m.mean() < 0.8  # the body, not the air around it
    assert json.loads((tmp_path / "mask.json").read_text())["command"] == "mask"


def test_info_reports_geometry(ct_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["info", str(ct_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["shape"] == [512, 512, 48]
    np.testing.assert_allclose(info["spacing_mm"], [0.5703125, 0.5703125, 5.0])
    assert info["min"] == -1024 and info["max"] == 3071


def test_every_verb_has_help(capsys: pytest.CaptureFixture) -> None:
    from medsr.cli.main import VERBS

    for verb in VERBS:
        with pytest.raises(SystemExit) as exc:
            main([verb, "-h"])
        assert exc.value.code == 0
        text = capsys.readouterr().out
        assert f"medsr {verb}" in text and "--quiet" in text
        # every option has a help text
        assert "  --" in text


@pytest.mark.slow
def test_demo_writes_report_figure_and_sidecars(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--time-budget", "3", "--no-tta"]) == 0
    assert (out / "mni_comparison.png").read_bytes()[:4] == b"\x89PNG"
    assert "<!DOCTYPE html>" in (out / "report" / "report.html").read_text()
    side = json.loads((out / "chest_ct_1mm.json").read_text())
    assert side["command"] == "demo" and side["data_consistency"]["relative_error_after"] < 1e-2
    assert (out / "chest_ct_1mm_uncertainty.nii.gz").exists()
    text = capsys.readouterr().out
    assert "bspline" in text and "medsr" in text
    assert "chest CT trust:" in text and "more than 20 HU" in text  # the CT sample is in HU
    assert side["uncertainty"]["trust"]["rule"] == "the CT default"
