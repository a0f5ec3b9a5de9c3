"""``medsr profile`` and ``enhance --profile auto|FILE`` (issue 10)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medsr.acquisition.profile import SliceProfile
from medsr.cli.main import main
from medsr.io import write
from tests.acquisition.test_estimate import _acquire


@pytest.mark.slow
def test_profile_verb_writes_a_kernel_enhance_accepts(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    img = _acquire("gaussian", 6.0, 4.0)
    src = write(img.with_data(np.ascontiguousarray(img.data[:, :64, :64])), tmp_path / "thick.nii.gz")
    kernel = tmp_path / "k.txt"
    assert main(["profile", str(src), "-o", str(kernel)]) == 0
    out = capsys.readouterr().out
    assert "slice profile: gaussian" in out and "noise:" in out
    assert "enhance (default --profile auto) assumes: gaussian narrowed" in out  # 1.5× the spacing
    prof = SliceProfile.from_file(kernel)
    assert prof.kind == "kernel"
    assert main(["profile", str(src), "-o", str(kernel)]) == 2  # exists, no --overwrite
    args = ["enhance", str(src), "--steps", "2", "--threads", "1", "--no-tta", "-q"]
    assert main([*args, "-o", str(tmp_path / "a.nii.gz"), "--profile", str(kernel)]) == 0
    side = json.loads((tmp_path / "a.json").read_text())
    assert side["profile"]["kind"] == "kernel" and side["noise"]["kind"] == "gaussian"
    assert main([*args, "-o", str(tmp_path / "b.nii.gz")]) == 0  # the default: --profile auto
    side = json.loads((tmp_path / "b.json").read_text())
    est = side["profile_estimate"]
    assert est["shape"] == "gaussian" and est["fwhm_mm"] == pytest.approx(6.0, rel=0.1)
    assert est["decision"] == "narrowed" and 4.0 < est["used_fwhm_mm"] < est["fwhm_mm"]
    assert side["profile"]["kind"] == "gaussian" and side["input_slice_thickness_mm"] == pytest.approx(
        est["used_fwhm_mm"], abs=1e-4
    )
    assert len(est["kernel_mm"][0]) == len(est["kernel_mm"][1]) > 10


def test_bad_profile_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    img = _acquire("rect", 4.0, 4.0)
    src = write(img.with_data(np.ascontiguousarray(img.data[:, :32, :32])), tmp_path / "t.nii.gz")
    bad = tmp_path / "bad.txt"
    bad.write_text("0 nan\n1 1\n")
    assert main(["enhance", str(src), "-o", str(tmp_path / "o.nii.gz"), "--profile", str(bad), "--steps", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "NaN" in err[0] and "Remedy" in err[0]
    assert not (tmp_path / "o.nii.gz").exists()


def test_training_inputs_carry_the_scans_noise() -> None:
    from medsr.selfsup.pairs import PlaneSampler

    flat = np.zeros((6, 64, 64), np.float32)  # no structure: all input variance is the added noise
    prof = SliceProfile("rect", 4.0)
    quiet = PlaneSampler(flat, {0: (4.0, 4.0)}, prof, patch=32)
    noisy = PlaneSampler(flat, {0: (4.0, 4.0)}, prof, patch=32, noise_sigma=0.1)
    assert float(np.abs(quiet.inputs[0]).max()) == 0.0
    lr_sd = float(noisy.inputs[0][:, 16:48, 16:48].std())
    assert 0.03 < lr_sd < 0.1  # B-spline-interpolated noise of sd 0.1·sqrt(1 − Σw²) ≈ 0.087
