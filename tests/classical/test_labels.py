"""Label maps on the SR grid (issue 13): no mixing, no new values, exact at acquired slices."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medsr.classical.labels import check_labels, upsample_labels
from medsr.errors import InvalidImageError
from medsr.geometry import upsample_grid
from medsr.image import Image, ImageMeta


def label_map(n_labels: int = 100, shape=(64, 64, 8), seed: int = 0) -> Image:
    """Touching random blobs: a Voronoi partition of part of the volume into ``n_labels`` labels."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 1, (n_labels, 3)) * np.array(shape)
    grid = np.stack(np.meshgrid(*[np.arange(s) + 0.5 for s in shape], indexing="ij"), -1)
    d = ((grid[..., None, :] - pts) ** 2 * np.array([1.0, 1.0, 25.0])).sum(-1)
    lab = d.argmin(-1) + 1
    lab[d.min(-1) > 60] = 0
    meta = ImageMeta(source_dtype="uint16")
    return Image(lab[None].astype(np.float32), spacing=(1.0, 1.0, 5.0), origin=(0, 0, 2.0), meta=meta)


def test_no_mixing_no_new_values_exact_at_acquired() -> None:
    seg = label_map()
    up = upsample_labels(seg, upsample_grid(seg.grid, factors=(1, 1, 5)))
    assert up.shape == (64, 64, 40)
    out, src = up.data[0], seg.data[0]
    assert set(np.unique(out)) <= set(np.unique(src))
    np.testing.assert_array_equal(out[:, :, 2::5], src)  # ×5: every LR centre is an HR slice
    # between slices j and j+1 a voxel holds background or a label present at that pixel's
    # neighbourhood in one of the two: never a label from elsewhere
    for k in range(2, 37):
        j = (k - 2) // 5
        allowed = set(np.unique(src[:, :, j])) | set(np.unique(src[:, :, min(j + 1, 7)]))
        assert set(np.unique(out[:, :, k])) <= allowed


def test_object_shrinks_onto_its_core_instead_of_vanishing() -> None:
    seg = np.zeros((1, 21, 21, 2), np.float32)
    seg[0, 5:16, 5:16, 0] = 7
    up = upsample_labels(
        Image(seg, spacing=(1, 1, 5)), upsample_grid(Image(seg, spacing=(1, 1, 5)).grid, factors=(1, 1, 5))
    )
    areas = [int((up.data[0, :, :, k] == 7).sum()) for k in range(2, 8)]
    assert areas[0] == 121 and areas[-1] == 0
    assert all(a >= b for a, b in zip(areas, areas[1:], strict=False)) and areas[2] > 0


def test_labels_refuse_intensities() -> None:
    img = Image(np.full((1, 4, 4, 2), 0.5, np.float32), spacing=(1, 1, 3))
    with pytest.raises(InvalidImageError, match="whole numbers"):
        check_labels(img)
    with pytest.raises(InvalidImageError, match="non-negative"):
        check_labels(Image(np.full((1, 4, 4, 2), -1.0, np.float32)))


def test_cli_upsample_labels_keeps_integer_type(tmp_path: Path) -> None:
    import SimpleITK as sitk

    from medsr.cli.main import main

    seg = label_map(20, shape=(32, 32, 6))
    arr = seg.data[0].transpose(2, 1, 0).astype(np.uint16)
    src = tmp_path / "seg.nii.gz"
    im = sitk.GetImageFromArray(arr)
    im.SetSpacing((1.0, 1.0, 5.0))
    sitk.WriteImage(im, str(src))
    out = tmp_path / "seg_up.nii.gz"
    assert main(["upsample", str(src), str(out), "--factors", "1", "1", "5", "--labels", "-q"]) == 0
    back = sitk.ReadImage(str(out))
    assert back.GetPixelID() == sitk.sitkUInt16 and back.GetSize() == (32, 32, 30)
    got = sitk.GetArrayFromImage(back)
    np.testing.assert_array_equal(got[2::5], arr)
    assert json.loads((tmp_path / "seg_up.json").read_text())["method"] == "labels"


def test_cli_refuses_float_image_as_labels(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import SimpleITK as sitk

    from medsr.cli.main import main

    src = tmp_path / "img.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.random.default_rng(0).random((4, 8, 8)).astype(np.float32)), str(src))
    out = tmp_path / "up.nii.gz"
    assert main(["upsample", str(src), str(out), "--factors", "1", "1", "4", "--labels"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "img.nii.gz" in err[0] and "label" in err[0]
    assert not out.exists()


def test_enhance_labels_on_another_grid_fail_before_training(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import time

    import SimpleITK as sitk

    from medsr.cli.main import main

    vol = sitk.GetImageFromArray(np.random.default_rng(0).random((8, 24, 24)).astype(np.float32))
    vol.SetSpacing((1.0, 1.0, 4.0))
    src = tmp_path / "scan.nii.gz"
    sitk.WriteImage(vol, str(src))
    seg = sitk.GetImageFromArray(np.zeros((8, 24, 20), np.uint8))
    seg.SetSpacing((1.0, 1.0, 4.0))
    sp = tmp_path / "seg.nii.gz"
    sitk.WriteImage(seg, str(sp))
    out = tmp_path / "sr.nii.gz"
    t = time.perf_counter()
    assert main(["enhance", str(src), "-o", str(out), "--labels", str(sp)]) == 2
    assert time.perf_counter() - t < 10
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "seg.nii.gz" in err[0] and "grid" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.nii.gz", "seg.nii.gz"]


@pytest.mark.slow
def test_enhance_writes_labels_on_the_sr_grid(tmp_path: Path) -> None:
    import SimpleITK as sitk

    from medsr.cli.main import main

    seg = label_map(5, shape=(24, 24, 6))
    rng = np.random.default_rng(0)
    vol = sitk.GetImageFromArray((seg.data[0] * 10 + rng.normal(0, 1, seg.shape)).transpose(2, 1, 0).astype(np.float32))
    vol.SetSpacing((1.0, 1.0, 5.0))
    vol.SetOrigin((0.0, 0.0, 2.0))
    lab = sitk.GetImageFromArray(seg.data[0].transpose(2, 1, 0).astype(np.uint8))
    lab.CopyInformation(vol)
    src, sp = tmp_path / "scan.nii.gz", tmp_path / "seg.nii.gz"
    sitk.WriteImage(vol, str(src))
    sitk.WriteImage(lab, str(sp))
    out = tmp_path / "sr.nii.gz"
    assert main(["enhance", str(src), "-o", str(out), "--labels", str(sp), "--steps", "3", "--no-tta", "-q"]) == 0
    up = sitk.ReadImage(str(tmp_path / "sr_labels.nii.gz"))
    assert up.GetSize() == sitk.ReadImage(str(out)).GetSize() and up.GetPixelID() == sitk.sitkUInt8
    side = json.loads((tmp_path / "sr.json").read_text())
    assert side["labels"].endswith("sr_labels.nii.gz")


def test_predict_writes_labels_beside_the_output(tmp_path: Path) -> None:
    import SimpleITK as sitk

    from medsr.cli.main import main

    rng = np.random.default_rng(0)
    img = rng.normal(40, 10, (48, 48)).astype(np.int16)
    img[16:32, 16:32] += 300
    im = sitk.GetImageFromArray(img)
    sitk.WriteImage(im, str(tmp_path / "ct.nrrd"))
    lab = np.zeros((48, 48), np.uint8)
    lab[16:32, 16:32] = 2
    lb = sitk.GetImageFromArray(lab)
    lb.CopyInformation(im)
    sitk.WriteImage(lb, str(tmp_path / "seg.nrrd"))
    out = tmp_path / "out"
    args = ["predict", "-i", str(tmp_path / "ct.nrrd"), "-o", str(out), "-m", "ct-inplane-x2", "-q"]
    assert main([*args, "--labels", str(tmp_path / "seg.nrrd")]) == 0
    up = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "ct_labels.nrrd")))
    assert up.shape == (96, 96) and up.dtype == np.uint8 and set(np.unique(up)) == {0, 2}
    assert 0.8 < (up == 2).sum() / (4 * (lab == 2).sum()) < 1.2
    assert json.loads((out / "ct.json").read_text())["labels"].endswith("ct_labels.nrrd")
