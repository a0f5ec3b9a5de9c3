"""Cohort mode: a fitted enhance network saved as a bundle, applied and fine-tuned on other scans."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from medsr.cli.main import main
from medsr.engine.predict import predict
from medsr.errors import BundleError, ConfigError
from medsr.image import Image, ImageMeta
from medsr.io import read, write
from medsr.models.zoo import find_model, list_models
from medsr.selfsup.cohort import FINE_TUNE_LR_SCALE, save_model
from medsr.selfsup.enhance import enhance

TINY = {"net": {"blocks": 1, "channels": 8}, "tta": False, "threads": 1}


def _scan(seed: int, spacing=(1.0, 1.0, 4.0), thickness: float | None = None) -> Image:
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.arange(24), np.arange(24), indexing="ij")
    base = np.sin(x / (2 + seed)) + np.cos(y / 3.0)
    vol = np.stack([base * (1 + 0.1 * k) for k in range(6)], axis=-1) * 100 + rng.normal(0, 1, (24, 24, 6))
    return Image(
        vol[None].astype(np.float32), spacing=spacing, meta=ImageMeta(modality="MR", slice_thickness=thickness)
    )


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    res = enhance(_scan(0), steps=3, slice_thickness_mm=3.0, **TINY)
    return res, save_model(res, tmp_path_factory.mktemp("cohort") / "protocol.safetensors")


@pytest.fixture(scope="module")
def protocol(fitted) -> Path:
    return fitted[1]


def test_applied_to_its_own_scan_the_bundle_reproduces_the_fit(fitted) -> None:
    res, path = fitted
    again = enhance(_scan(0), init=str(path), steps=0, **TINY)
    np.testing.assert_array_equal(again.image.data, res.image.data)
    np.testing.assert_array_equal(again.uncertainty.data, res.uncertainty.data)


def test_saved_bundle_carries_the_plan(protocol: Path) -> None:
    card = find_model(protocol)
    assert card.task == "through-plane Z ×4 (enhance protocol), grey" and card.arch == "planar_residual"
    assert card.plan["input_slice_thickness_mm"] == 3.0 and card.plan["profile"]["kind"] == "rect"
    assert card.plan["train_factors"]["X"] == {"f": 4.0, "t": 3.0}
    assert card.modality == ["MR"] and card.spacing_range_mm[2] == pytest.approx([3.4, 4.6])
    assert {c.name: c.source for c in list_models(protocol.parent)}["protocol"] == str(protocol.parent)


def test_apply_without_training_uses_the_bundle_plan_and_projection(protocol: Path) -> None:
    other = _scan(1)  # no thickness in its header: the bundle's 3 mm is used
    res = enhance(other, init=str(protocol), steps=0, **TINY)
    assert res.info["network"]["init"] == "bundle:protocol.safetensors"
    assert res.info["training"]["steps"] == 0
    assert res.info["input_slice_thickness_mm"] == 3.0 and res.image.shape == (24, 24, 24)
    assert res.info["data_consistency"]["relative_error_after"] < 1e-5
    assert res.uncertainty.shape == res.image.shape
    np.testing.assert_array_equal(
        predict(other, str(protocol)).data, enhance(other, init=str(protocol), steps=0).image.data
    )


def test_fine_tuning_starts_from_the_bundle_at_a_lower_rate(protocol: Path) -> None:
    res = enhance(_scan(2), init=str(protocol), steps=2, **TINY)
    assert res.info["training"]["steps"] == 2
    assert res.info["training"]["lr"] == pytest.approx(2e-3 * FINE_TUNE_LR_SCALE)
    assert res.info["training"]["warmup"] == 0.0
    with pytest.raises(ConfigError, match="network"):
        enhance(_scan(2), init=str(protocol), steps=1, net={"blocks": 4})


def test_a_scan_outside_the_range_gets_one_warning(protocol: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="medsr"):
        enhance(_scan(3, spacing=(0.5, 0.5, 4.0)), init=str(protocol), steps=0, **TINY)
    lines = [r.getMessage() for r in caplog.records if "outside the protocol bundle's range" in r.getMessage()]
    assert len(lines) == 1 and "X spacing 0.5 mm (bundle 1)" in lines[0]


def test_bundles_that_are_not_protocols_are_refused() -> None:
    from medsr.models.zoo import resolve_model

    with pytest.raises(BundleError, match="not made by enhance --save-model"):
        enhance(_scan(0), init=str(resolve_model("xray-x4")), steps=0)


def test_cli_cohort_round_trip(tmp_path: Path, capsys) -> None:
    for n in (0, 1):
        write(_scan(n, thickness=3.0), tmp_path / f"scan{n}.nrrd")
    fit = ["enhance", str(tmp_path / "scan0.nrrd"), "-o", str(tmp_path / "sr0.nrrd"), "--steps", "2"]
    assert main([*fit, "--save-model", str(tmp_path / "p.safetensors"), "--no-tta"]) == 0
    assert (
        main(
            [
                "predict",
                "-i",
                str(tmp_path / "scan1.nrrd"),
                "-o",
                str(tmp_path / "out"),
                "-m",
                str(tmp_path / "p.safetensors"),
            ]
        )
        == 0
    )
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["scan1.json", "scan1.nrrd", "scan1_uncertainty.json", "scan1_uncertainty.nrrd"]
    assert read(tmp_path / "out" / "scan1.nrrd").shape == (24, 24, 24)
    tune = [
        "enhance",
        str(tmp_path / "scan1.nrrd"),
        "-o",
        str(tmp_path / "ft1.nrrd"),
        "--init",
        str(tmp_path / "p.safetensors"),
    ]
    assert main([*tune, "--steps", "1", "--no-tta"]) == 0
    assert main(["models", "--path", str(tmp_path)]) == 0
    assert "enhance protocol" in capsys.readouterr().out
    assert main([*fit, "-o", str(tmp_path / "x.nrrd"), "--save-model", str(tmp_path / "p.pt")]) == 2
    assert "a model bundle is a .safetensors file" in capsys.readouterr().err
    assert (
        main(["enhance", str(tmp_path), "-o", str(tmp_path / "all"), "--save-model", str(tmp_path / "q.safetensors")])
        == 2
    )
    assert "fits on one scan" in capsys.readouterr().err
    assert (
        main([*fit[:3], str(tmp_path / "sr9.nrrd"), "--steps", "1", "--save-model", str(tmp_path / "p.safetensors")])
        == 2
    )
    assert "exists" in capsys.readouterr().err  # checked before any training


def test_the_package_export_is_the_function_whatever_was_imported_first() -> None:
    import subprocess
    import sys

    code = (
        "import sys, medsr.selfsup.cohort, medsr.selfsup.enhance; from medsr.selfsup import enhance; "
        "print(callable(enhance), 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False"]
