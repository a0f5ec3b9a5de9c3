"""Downstream measurements (issue 13): Dice, volume error and HD95 against MONAI, the
acquired/unacquired split, and ``medsr evaluate --segment``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from medsr.downstream import acquired_slices, overlap, segmenter
from medsr.image import Image


def _spheres() -> tuple[np.ndarray, np.ndarray]:
    x, y, z = np.meshgrid(*[np.arange(30) - 15.0] * 3, indexing="ij")
    a = x**2 + y**2 + z**2 < 81
    b = (x - 2) ** 2 + y**2 + (z / 1.2) ** 2 < 64
    return a, b


def test_overlap_agrees_with_monai() -> None:
    pytest.importorskip("monai")
    import torch
    from monai.metrics import compute_dice, compute_hausdorff_distance

    a, b = _spheres()
    sp = (0.8, 1.0, 2.5)
    r = overlap(a, b, sp)
    ta, tb = (torch.from_numpy(v[None, None].astype(np.float32)) for v in (a, b))
    dice = float(compute_dice(tb, ta, include_background=True))
    hd = float(compute_hausdorff_distance(tb, ta, include_background=True, percentile=95, spacing=sp))
    assert abs(r["dice"] - dice) < 1e-6
    assert abs(r["hd95_mm"] - hd) < 1e-4 * max(1.0, hd)
    assert r["volume_error_ml"] == pytest.approx((b.sum() - a.sum()) * 0.8 * 2.5 / 1000, abs=1e-3)


def test_acquired_slices_follow_the_fov_rule() -> None:
    assert acquired_slices(20, 5).nonzero()[0].tolist() == [2, 7, 12, 17]
    assert acquired_slices(8, 4).nonzero()[0].tolist() == [1, 2, 5, 6]  # centres at 1.5 and 5.5


def test_label_rule_reproduces_the_label_on_the_reference() -> None:
    a, _ = _spheres()
    img = Image((50.0 + 100.0 * a)[None].astype(np.float32))
    ref_mask, rule, info = segmenter(img, Image(a[None].astype(np.float32)))
    assert info["segment"] == "labels" and 50 <= info["threshold"] < 150
    assert np.array_equal(rule(img), a) and np.array_equal(ref_mask, a)


def _write(arr: np.ndarray, path: Path, spacing=(1.0, 1.0, 1.0)) -> Path:
    import SimpleITK as sitk

    im = sitk.GetImageFromArray(arr.transpose(2, 1, 0))
    im.SetSpacing(spacing)
    sitk.WriteImage(im, str(path))
    return path


def test_evaluate_cli_segment_and_slice_split(tmp_path: Path) -> None:
    from medsr.cli.main import main

    a, b = _spheres()
    hr = _write((100.0 * a).astype(np.float32), tmp_path / "hr.nii.gz")
    pred = _write((100.0 * b).astype(np.float32), tmp_path / "pred.nii.gz")
    lab = _write(a.astype(np.uint8), tmp_path / "lab.nii.gz")
    js, cs = tmp_path / "s.json", tmp_path / "s.csv"
    args = ["evaluate", "--reference", str(hr), "--prediction", str(pred), "--factors", "1", "1", "5"]
    assert main([*args, "--segment", str(lab), "--json", str(js), "--csv", str(cs), "-q"]) == 0
    row = json.loads(js.read_text())["rows"][0]
    want = overlap(a, b, (1, 1, 1))
    assert row["dice"] == pytest.approx(want["dice"]) and row["hd95_mm"] == pytest.approx(want["hd95_mm"])
    assert row["psnr_acquired"] is not None and row["psnr_unacquired"] is not None
    head = next(csv.reader(cs.open()))
    assert {"dice", "volume_error_ml", "hd95_mm", "psnr_acquired", "ssim_unacquired"} <= set(head)
    js2 = tmp_path / "t.json"
    assert main([*args, "--segment", "threshold", "--json", str(js2), "-q"]) == 0
    got = json.loads(js2.read_text())
    assert got["result"]["segmentation_rule"]["segment"] == "threshold"
    assert 0 < got["rows"][0]["dice"] < 1


def test_evaluate_refuses_labels_on_another_grid(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from medsr.cli.main import main

    a, _ = _spheres()
    hr = _write((100.0 * a).astype(np.float32), tmp_path / "hr.nii.gz")
    lab = _write(a.astype(np.uint8), tmp_path / "lab.nii.gz", spacing=(1.0, 1.0, 2.0))
    js = tmp_path / "s.json"
    args = ["evaluate", "--reference", str(hr), "--prediction", str(hr), "--segment", str(lab), "--json", str(js)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lab.nii.gz" in err[0] and "grid" in err[0]
    assert not js.exists()
