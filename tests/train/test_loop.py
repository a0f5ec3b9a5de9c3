"""The training loop: a loadable bundle, resume, determinism, interruption."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from medsr.errors import ConfigError  # noqa: E402
from medsr.train import config_from_dict, train  # noqa: E402

from .conftest import tiny_config  # noqa: E402


def _run(folders, out: Path, steps: int = 4, progress=None, **sections):
    cfg = config_from_dict(tiny_config(*folders, steps=steps, **sections))
    return train(cfg, out, progress=progress)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_few_steps_make_a_loadable_bundle(grey_folders, tmp_path: Path) -> None:
    from medsr.models.bundle import load_model

    seen = []
    result = _run(grey_folders, tmp_path / "run", progress=lambda d, t: seen.append((d, t)))
    run = tmp_path / "run"
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    assert result.step == 4 and result.bundle == run / "model.safetensors"
    for name in ("config.yaml", "log.csv", "training.png", "checkpoints/step_00000004.safetensors"):
        assert (run / name).is_file(), name
    rows = list(csv.DictReader((run / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert rows[1]["val_psnr"] and rows[1]["val_psnr_bspline"] and not rows[0]["val_psnr"]
    b = load_model(result.bundle)
    m = b.meta
    assert (m.arch, m.factors, m.channels) == ("fast", (2, 2), 1)
    assert m.arch_kwargs["width"] == 8 and m.intended_use == "research, not diagnosis"
    assert m.normalization["mode"] == "fixed-8bit"
    assert m.degradations["profiles"] == ["rect", "gaussian"]
    assert m.degradations["thickness_over_lr_spacing"] == [0.7, 1.3]
    assert m.spacing_range_mm[0] == [0.75, 1.25]  # 0.5 mm HR × 2, ± 25 %
    assert m.spacing_range_mm[2] == [0.0, 1e6]  # planes one at a time: any slice spacing
    assert m.extra["training_lr_spacing_mm"][0] == [1.0, 1.0]
    assert "img0.nrrd" in m.training_data and m.license
    assert set(m.metrics) >= {"psnr_db", "ssim", "bspline_psnr_db", "gain_vs_bspline_db"}
    assert m.extra["train_config"]["optim"]["steps"] == 4 and m.extra["image_factors"] == [2.0, 2.0, 1.0]
    y = b.model(torch.zeros(1, 1, 10, 12))
    assert y.shape == (1, 1, 20, 24)


def test_fixed_seed_is_bitwise_repeatable(grey_folders, tmp_path: Path) -> None:
    a = _run(grey_folders, tmp_path / "a", steps=3)
    b = _run(grey_folders, tmp_path / "b", steps=3)
    c = _run(grey_folders, tmp_path / "c", steps=3, run={"seed": 1})
    assert _same(a.state, b.state)
    assert not _same(a.state, c.state)


def test_resume_continues_the_step_count(grey_folders, tmp_path: Path) -> None:
    first = _run(grey_folders, tmp_path / "run", steps=2)
    assert first.step == 2
    second = _run(grey_folders, tmp_path / "run", steps=4)
    assert second.resumed_from == 2 and second.step == 4
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    again = _run(grey_folders, tmp_path / "run", steps=4)  # finished: nothing to do, figures kept
    assert again.resumed_from == 4 and again.metrics["val_psnr"] == pytest.approx(second.metrics["val_psnr"])
    assert _same(again.state, second.state)


def test_interrupted_run_resumes_exactly(grey_folders, tmp_path: Path) -> None:
    full = _run(grey_folders, tmp_path / "full", steps=4)

    def stop_at_3(done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(grey_folders, tmp_path / "cut", steps=4, progress=stop_at_3)
    assert (tmp_path / "cut" / "checkpoints" / "step_00000003.safetensors").is_file()
    resumed = _run(grey_folders, tmp_path / "cut", steps=4)
    assert resumed.resumed_from == 3
    assert _same(full.state, resumed.state)


def test_resume_with_another_architecture_is_refused(grey_folders, tmp_path: Path) -> None:
    _run(grey_folders, tmp_path / "run", steps=2)
    with pytest.raises(ConfigError, match="model.kwargs"):
        _run(grey_folders, tmp_path / "run", steps=4, model={"kwargs": {"width": 4, "depth": 2}})


def test_wrong_dimensionality_and_paired_mismatch(grey_folders, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="fast3d.*3D"):
        _run(grey_folders, tmp_path / "r1", model={"arch": "fast3d", "kwargs": {}})
    with pytest.raises(ConfigError, match="does not match HR"):
        _run(grey_folders, tmp_path / "r2", data={"pairs": str(grey_folders[0])})


def test_rgb_and_3d_runs(tmp_path: Path) -> None:
    from medsr.image import Image, ImageMeta
    from medsr.io import write
    from medsr.models.bundle import read_bundle_meta

    from .conftest import write_folder

    rgb = write_folder(tmp_path / "rgb", [0], channels=3, suffix=".png")
    r = _run((rgb, None), tmp_path / "run_rgb", steps=2)
    meta = read_bundle_meta(r.bundle)
    assert meta.channels == 3 and meta.extra["rgb"] and meta.normalization["mode"] == "fixed-8bit"
    assert meta.metrics == {}  # no validation folder, no figures
    vol = np.random.default_rng(0).random((1, 24, 24, 24)).astype(np.float32) * 100
    (tmp_path / "vol").mkdir()
    write(Image(vol, spacing=(1, 1, 1), meta=ImageMeta(modality="MR")), tmp_path / "vol" / "v.nii.gz")
    r3 = _run(
        (tmp_path / "vol", tmp_path / "vol"),
        tmp_path / "run3d",
        steps=2,
        degradation={"factors": [1, 1, 2]},
        patches={"mode": "3d", "size": [8, 8, 8]},
        model={"arch": "fast3d", "kwargs": {"width": 4, "depth": 1}},
        run={"val_crop_size": [16, 16, 16]},
    )
    assert r3.metrics["val_crops"] == 1 and np.isfinite(r3.metrics["val_psnr"])


def test_paired_folders_train(grey_folders, tmp_path: Path) -> None:
    from medsr.acquisition import degrade
    from medsr.io import read, write

    train_hr, val_hr = grey_folders
    for hr_dir, lr_dir in ((train_hr, tmp_path / "lr"), (val_hr, tmp_path / "val_lr")):
        lr_dir.mkdir()
        for p in hr_dir.glob("*.nrrd"):
            write(degrade(read(p), (2, 2), profile="gaussian", thickness_mm=1.2), lr_dir / p.name)
    r = _run(
        grey_folders,
        tmp_path / "run",
        steps=2,
        data={"pairs": str(tmp_path / "lr"), "val_pairs": str(tmp_path / "val_lr")},
    )
    assert r.step == 2 and np.isfinite(r.metrics["val_psnr"])
