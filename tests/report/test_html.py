"""The enhance report is one self-contained HTML file with every panel, slider and figure."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np

from medsr.geometry import upsample_grid
from medsr.image import Image, ImageMeta
from medsr.report.html import _lr_on_grid, enhance_report


def _case() -> tuple[Image, Image, Image]:
    rng = np.random.default_rng(0)
    lr = Image(
        rng.normal(size=(1, 20, 18, 6)).astype(np.float32),
        (0.8, 0.8, 4.0),
        (5.0, -3.0, 10.0),
        meta=ImageMeta(modality="MR"),
    )
    g = upsample_grid(lr.grid, spacing=(0.8, 0.8, 0.8))
    sr = Image.from_grid(rng.normal(size=(1, *g.shape)).astype(np.float32), g, lr.meta)
    unc = Image.from_grid(np.abs(sr.data), g)
    return lr, sr, unc


def test_report_is_self_contained(tmp_path: Path) -> None:
    lr, sr, unc = _case()
    info = {
        "thick_axis": 2,
        "timings_s": {"train": 1.5, "inference": 0.5},
        "data_consistency": {"relative_error_after": 1e-5},
    }
    path = enhance_report(
        tmp_path,
        lr=lr,
        bspline=sr,
        sr=sr,
        uncertainty=unc,
        info=info,
        loss_curve=[(i, 1.0 / (i + 1)) for i in range(50)],
        n_slices=5,
    )
    page = path.read_text()
    assert path.name == "report.html" and page.startswith("<!DOCTYPE html>")
    # no external resource: every src/href is inline data
    refs = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert all(r.startswith("data:") for r in refs)
    assert "<link" not in page and "@import" not in page
    frames = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert len(frames) == 5 * 4  # 5 slider positions × input, bspline, medsr, uncertainty
    assert base64.b64decode(frames[0])[:8] == b"\x89PNG\r\n\x1a\n"
    for text in (
        "Input (thick slices)",
        "Cubic B-spline",
        "Uncertainty",
        'type="range"',
        "<polyline",
        "relative_error_after",
        "Timings",
    ):
        assert text in page, text
    assert list(tmp_path.iterdir()) == [path]  # nothing else left behind


def test_input_shown_as_thick_slices() -> None:
    lr, sr, _ = _case()
    shown = _lr_on_grid(lr, sr, 2)
    assert shown.shape == sr.shape
    # 5 output voxels (0.8 mm) per 4 mm input slice, each showing its own input slice
    for k in range(sr.shape[2]):
        np.testing.assert_array_equal(shown.data[0, :, :, k], lr.data[0, :, :, k // 5])


def test_profile_section_says_whether_the_estimate_was_used() -> None:
    from medsr.acquisition.estimate import ProfileEstimate
    from medsr.report.sections import profile_section as _profile_section

    for decision, needle in [("used", "Used for the training pairs"), ("narrowed", "narrowed"), ("rect", "Not used")]:
        est = ProfileEstimate("gaussian", 6.0, 4.0, 0.7, 1.0, decision=decision, used_fwhm_mm=5.2)
        page = _profile_section({"profile_estimate": est.to_dict(), "input_spacing_mm": [1.0, 1.0, 4.0]})
        assert needle in page and "FWHM 6 mm" in page and "<svg" in page, page[:200]


def test_calibration_curve_trust_and_overlay(tmp_path: Path) -> None:
    lr, sr, unc = _case()
    deciles = [{"predicted": 1.0 + i, "observed": 1.1 + i} for i in range(10)]
    info = {
        "thick_axis": 2,
        "uncertainty": {
            "calibration": {"model": {"deciles": deciles, "coverage_90": 0.91}},
            "trust": {"unsure_fraction": 0.034, "threshold": 20.0, "units": "HU", "rule": "the CT default"},
        },
    }
    page = enhance_report(tmp_path, lr=lr, bspline=sr, sr=sr, uncertainty=unc, info=info, n_slices=3).read_text()
    assert "Uncertainty calibration" in page and "covered 91%" in page
    assert "3.4% of the foreground is expected to be off by more than 20 HU" in page
    assert 'id="overlay"' in page and 'id="ov-medsr"' in page
    uncal = enhance_report(
        tmp_path / "u", lr=lr, bspline=sr, sr=sr, uncertainty=unc, info={"thick_axis": 2}, n_slices=3
    )
    assert "not calibrated" in uncal.read_text()
