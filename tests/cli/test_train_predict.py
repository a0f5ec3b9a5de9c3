"""``medsr train`` → ``medsr predict`` (folders, --continue, sharding) → ``medsr export``, and the
shipped bundles against cubic B-spline under the referee's convention."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from medsr.cli.main import main

from ..conftest import DATA, REFEREE
from ..train.conftest import smooth_image, write_folder

BUNDLES = Path(__file__).resolve().parents[2] / "src" / "medsr" / "data" / "bundles"

CONFIG = """
patches: {size: [16, 16], batch_size: 4}
model: {arch: fast, kwargs: {width: 8, depth: 2}}
optim: {warmup_steps: 1}
run: {val_every: 2, checkpoint_every: 2, val_crops: 2, val_crop_size: [32, 32], threads: 1, device: cpu}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder trained for 3 steps through the command line."""
    root = tmp_path_factory.mktemp("cli_train")
    train = write_folder(root / "train", [0, 1])
    val = write_folder(root / "val", [2])
    (root / "cfg.yaml").write_text(CONFIG)
    code = main(
        [
            "-q",
            "train",
            "--data",
            str(train),
            "--val",
            str(val),
            "--factors",
            "2",
            "2",
            "--arch",
            "fast",
            "--config",
            str(root / "cfg.yaml"),
            "--out",
            str(root / "run"),
            "--steps",
            "3",
        ]
    )
    assert code == 0
    return root / "run"


def _lr_folder(folder: Path, n: int = 4) -> Path:
    from medsr.acquisition import degrade
    from medsr.io import write

    folder.mkdir()
    for i in range(n):
        write(degrade(smooth_image(10 + i), (2, 2)), folder / f"case{i}.nrrd")
    return folder


def test_train_writes_a_run_folder(trained: Path) -> None:
    for name in ("config.yaml", "log.csv", "training.png", "model.safetensors"):
        assert (trained / name).is_file()
    assert "steps: 3" in (trained / "config.yaml").read_text()


def test_train_resume_and_config_errors(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: {stepz: 3}\n")
    code = main(
        ["train", "--data", str(tmp_path), "--factors", "2", "2", "--config", str(bad), "--out", str(tmp_path / "r")]
    )
    err = capsys.readouterr().err
    assert code == 2 and "unknown key optim.stepz" in err and str(bad) in err and "Traceback" not in err
    code = main(["train", "--data", str(tmp_path), "--factors", "1.5", "1.5", "--out", str(tmp_path / "r")])
    assert code == 2 and "whole numbers" in capsys.readouterr().err


def test_predict_folder_continue_and_shards(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from medsr.io import read

    lr = _lr_folder(tmp_path / "lr")
    bundle = str(trained / "model.safetensors")
    out = tmp_path / "sr"
    base = ["-q", "predict", "-i", str(lr), "-o", str(out), "-m", bundle]
    assert main(base + ["--num-parts", "2", "--part-id", "1"]) == 0
    assert sorted(p.name for p in out.glob("*.nrrd")) == ["case1.nrrd", "case3.nrrd"]
    first = (out / "case1.nrrd").stat().st_mtime_ns
    assert main(base + ["--continue"]) == 0
    assert sorted(p.name for p in out.glob("*.nrrd")) == [f"case{i}.nrrd" for i in range(4)]
    assert (out / "case1.nrrd").stat().st_mtime_ns == first  # finished outputs are not redone
    capsys.readouterr()
    assert main(base) == 2  # exists, neither --continue nor --overwrite
    assert "output exists" in capsys.readouterr().err
    sr, src = read(out / "case0.nrrd"), read(lr / "case0.nrrd")
    assert sr.shape == (src.shape[0] * 2, src.shape[1] * 2, 1)
    np.testing.assert_allclose(sr.spacing[:2], src.spacing[:2] / 2)
    side = json.loads((out / "case0.json").read_text())
    assert side["command"] == "predict" and side["bundle"] == bundle
    assert side["intended_use"] == "research, not diagnosis" and side["factors"][:2] == [2, 2]


def test_predict_single_file_and_domain_warning(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from medsr.io import write

    img = smooth_image(5)
    far = img.with_data(img.data)
    far.grid = type(img.grid)(img.grid.shape, (5.0, 5.0, 1.0), img.grid.origin, img.grid.direction)
    src = write(far, tmp_path / "far.nrrd")
    assert (
        main(["predict", "-i", str(src), "-o", str(tmp_path / "one.nrrd"), "-m", str(trained / "model.safetensors")])
        == 0
    )
    err = capsys.readouterr().err
    assert "outside the bundle's range" in err
    assert (tmp_path / "one.nrrd").is_file() and (tmp_path / "one.json").is_file()
    assert main(["predict", "-i", str(src), "-o", str(tmp_path / "x"), "-m", "no-such-bundle"]) == 2
    assert "neither a bundle file nor a known bundle name" in capsys.readouterr().err


def test_predict_uncertainty_map_calibrated_at_training(trained: Path, tmp_path: Path, capsys) -> None:
    from medsr.io import read, write
    from medsr.models.bundle import read_bundle_meta

    cal = read_bundle_meta(trained / "model.safetensors").extra["calibration"]
    assert len(cal["deciles"]) == 10 and 0 < cal["coverage_90"] <= 1
    src = write(smooth_image(7), tmp_path / "in.nrrd")
    model = str(trained / "model.safetensors")
    assert main(["predict", "-i", str(src), "-o", str(tmp_path / "plain.nrrd"), "-m", model, "-q"]) == 0
    assert not (tmp_path / "plain_uncertainty.nrrd").exists()  # only when asked for
    args = ["predict", "-i", str(src), "-o", str(tmp_path / "sr.nrrd"), "-m", model]
    assert main([*args, "--uncertainty-interval", "0.9", "--flag-unsure", "--unsure-threshold", "0.01"]) == 0
    assert "trust:" in capsys.readouterr().out
    sr, plain = read(tmp_path / "sr.nrrd"), read(tmp_path / "plain.nrrd")
    unc, half = read(tmp_path / "sr_uncertainty.nrrd"), read(tmp_path / "sr_interval90.nrrd")
    unsure = read(tmp_path / "sr_unsure.nrrd")
    assert unc.shape == half.shape == unsure.shape == sr.shape == plain.shape
    assert float(unc.data.min()) >= 0 and float(unc.data.max()) > 0
    q = cal["interval_quantiles"]["0.9"]
    np.testing.assert_allclose(half.data, q * unc.data, rtol=1e-4, atol=1e-6)
    assert not np.array_equal(sr.data, plain.data)  # the output is the mean over the flips
    side = json.loads((tmp_path / "sr.json").read_text())
    assert side["uncertainty"]["calibration"]["calibrated"] is True
    assert side["uncertainty"]["trust"]["unsure_voxels"] == int(unsure.data.sum())
    assert side["uncertainty"]["files"]["interval"].endswith("sr_interval90.nrrd")


def test_interval_from_an_uncalibrated_bundle_is_refused_before_any_work(trained: Path, tmp_path: Path, capsys) -> None:
    from dataclasses import replace

    from medsr.io import write
    from medsr.models.bundle import load_model, save_bundle

    b = load_model(trained / "model.safetensors")
    extra = {k: v for k, v in b.meta.extra.items() if k != "calibration"}
    old = save_bundle(b.model, tmp_path / "old.safetensors", replace(b.meta, extra=extra))
    src = write(smooth_image(7), tmp_path / "in.nrrd")
    args = ["predict", "-i", str(src), "-o", str(tmp_path / "sr.nrrd"), "-m", str(old)]
    assert main([*args, "--uncertainty-interval", "0.9"]) == 2
    err = capsys.readouterr().err
    assert "no expected-error calibration" in err and "old.safetensors" in err
    assert not list(tmp_path.glob("sr*"))
    assert main([*args, "--uncertainty", "-q"]) == 0  # the map alone still works: the members' spread
    side = json.loads((tmp_path / "sr.json").read_text())
    assert side["uncertainty"]["calibration"]["calibrated"] is False


def test_export_onnx_matches_torch(trained: Path, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    import torch

    from medsr.models.bundle import load_model

    out = tmp_path / "m.onnx"
    assert main(["-q", "export", str(trained / "model.safetensors"), "--onnx", "-o", str(out)]) == 0
    x = np.random.default_rng(0).random((1, 1, 13, 17)).astype(np.float32)
    y = ort.InferenceSession(str(out)).run(None, {"lr": x})[0]
    with torch.no_grad():
        ref = load_model(trained / "model.safetensors").model(torch.from_numpy(x)).numpy()
    assert y.shape == (1, 1, 26, 34)
    np.testing.assert_allclose(y, ref, atol=1e-5)
    assert json.loads(out.with_suffix(".json").read_text())["metadata"]["arch"] == "fast"
    assert (
        main(["-q", "export", str(trained / "model.safetensors"), "--onnx", "--int8", "-o", str(tmp_path / "m8.onnx")])
        == 0
    )
    y8 = ort.InferenceSession(str(tmp_path / "m8.onnx")).run(None, {"lr": x})[0]
    assert np.abs(y8 - ref).mean() < 0.05


def test_python_m_medsr_train_help() -> None:
    out = subprocess.run([sys.executable, "-m", "medsr", "train", "-h"], capture_output=True, text=True, check=True)
    assert "--pairs" in out.stdout and "torchrun" in out.stdout


# -- shipped bundles ------------------------------------------------------------------------------
def _referee(*args: str) -> dict:
    out = subprocess.run([sys.executable, str(REFEREE), *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _held_out(name: str, tmp: Path) -> list[tuple[Path, list[str]]]:
    """Small crops from the parts of ../shared/data that the bundles never saw in training."""
    import medsr
    from medsr.geometry import Grid

    def crop(img, x, y, z=(0, 1)):
        origin = img.grid.index_to_world(np.array([x[0], y[0], z[0]], dtype=np.float64))
        g = Grid((x[1] - x[0], y[1] - y[0], z[1] - z[0]), img.spacing, origin, img.direction)
        return img.with_data(np.ascontiguousarray(img.data[:, x[0] : x[1], y[0] : y[1], z[0] : z[1]]), grid=g)

    if name == "ct-inplane-x2":
        ct = medsr.read(DATA / "ct" / "lung1_image.nrrd")
        return [
            (medsr.write(crop(ct, (128, 320), (160, 352), (40, 48)), tmp / "ct.nrrd", dtype="input"), ["2", "2", "1"])
        ]
    if name == "xray-x4":
        from medsr.image import Image

        xr = medsr.read(DATA / "xray" / "chest_cr.dcm")
        xr = Image(xr.data, spacing=xr.spacing, meta=xr.meta)  # a plain 2D image, written as 2D NRRD
        return [(medsr.write(crop(xr, (1420, 1740), (700, 1020)), tmp / "xr.nrrd", dtype="input"), ["4", "4"])]
    out = []
    for f, y in (("fundus_retina.jpg", (500, 820)), ("he_histology_1024.png", (300, 620))):
        img = medsr.read(DATA / "rgb" / f)
        x0 = int(round(img.shape[0] * 0.75)) + 8
        out.append(
            (medsr.write(crop(img, (x0, x0 + 240), y), tmp / (Path(f).stem + ".png"), dtype="input"), ["4", "4"])
        )
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ct-inplane-x2", "xray-x4", "rgb-x4"])
def test_shipped_bundle_beats_bspline_on_held_out_crops(name: str, tmp_path: Path) -> None:
    from medsr.models.bundle import load_model

    bundle = BUNDLES / f"{name}.safetensors"
    if not bundle.is_file():
        pytest.fail(f"shipped bundle {bundle} is missing")
    meta = load_model(bundle).meta
    assert meta.intended_use == "research, not diagnosis" and "../shared/data" in meta.training_data
    assert meta.metrics["gain_vs_bspline_db"] > 0
    if not REFEREE.exists() or not DATA.exists():
        pytest.skip("../shared not available")
    for hr, factors in _held_out(name, tmp_path):
        case = tmp_path / f"case_{hr.stem}"
        _referee("make", str(hr), str(case), "--factors", *factors)
        base = _referee("baseline", str(case))
        lr = next(case.glob("lr.*"))
        out = case / ("sr" + "".join(lr.suffixes))
        assert main(["-q", "predict", "-i", str(lr), "-o", str(out), "-m", name]) == 0
        score = _referee("score", str(case), str(out))
        assert score["resampled"] is False
        assert score["psnr"] > base["bspline3"]["psnr"], (hr.name, score, base)
