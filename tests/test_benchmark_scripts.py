"""The benchmark scripts still run against the library they measure (issue 9: ``--make-prior``
imported a class that had been removed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.conftest import shared_path

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.shared
def test_make_prior_runs_and_writes_a_loadable_prior(tmp_path: Path) -> None:
    shared_path("xray/chest_cr.dcm")  # skips when ../shared is absent
    bench = _load("enhance")
    out = tmp_path / "prior.safetensors"
    bench.make_prior(1.0, 1, str(out))
    from medsr.models.planar_residual import PlanarResidualNet
    from medsr.selfsup.prior import load_prior

    assert load_prior(PlanarResidualNet(), out).startswith("prior:")


def test_labels_benchmark_prints_exact_and_no_new_values() -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "labels.py"
    res = subprocess.run(
        [sys.executable, str(script), "--labels", "12", "--shape", "40", "40", "8"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    row = res.stdout.splitlines()[2].split("|")
    assert row[3].strip() == "40×40×40" and row[6].strip() == "True" and row[7].strip() == "none", res.stdout


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize("shape,ratio,decision", [("rect", 1.0, "rect"), ("gaussian", 1.5, "used")])
def test_profile_accuracy_case_on_the_mni_template(
    monkeypatch: pytest.MonkeyPatch, shape: str, ratio: float, decision: str
) -> None:
    """A contiguous rect acquisition keeps rect; an overlapping Gaussian one is used (or narrowed)."""
    shared_path("mri/mni152_t1_1mm.nii.gz")
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    row = _load("profile_accuracy").one("mni", shape, ratio, None)
    assert row["est"].decision in ({decision, "narrowed"} if decision == "used" else {decision}), row["est"]
    assert abs(row["err"]) < 10 if ratio == 1.0 else row["est"].fwhm_mm >= 1.3 * 4, row["err"]


def test_uncertainty_benchmark_scores_are_exact_on_known_maps() -> None:
    bench = _load("uncertainty")
    import numpy as np

    err = np.random.default_rng(0).gamma(2.0, 1.0, 5000)
    perfect = bench.scores(err, 2 * err, err)
    assert perfect["spearman"] > 0.999 and perfect["auroc"] > 0.999 and perfect["coverage"] == 1.0
    assert np.allclose(perfect["ratios"], 1.0)
    half = bench.scores(err / 2, err / 4, err)  # reads half the error: every decile 2x, nothing covered
    assert np.allclose(half["ratios"], 2.0) and half["coverage"] == 0.0
    assert bench.auroc(err >= np.quantile(err, 0.9), -err) < 0.001  # the reverse ranking


def test_enhance2d_degrade_is_the_referee_block_mean_and_methods_are_the_cli() -> None:
    import numpy as np

    from medsr.image import Image, ImageMeta

    bench = _load("enhance2d")
    hr = Image(np.arange(2 * 9 * 8, dtype=np.float32).reshape(2, 9, 8, 1), meta=ImageMeta(spatial_dims=2))
    hr2, lr = bench.degrade(hr, 4)
    assert hr2.shape == (8, 8, 1) and lr.shape == (2, 2, 1)
    np.testing.assert_allclose(lr.data[0, 0, 0, 0], hr.data[0, :4, :4, 0].mean())
    np.testing.assert_allclose(lr.grid.origin[:2], (1.5, 1.5))  # field of view kept
    m = bench.methods(Path("lr.png"), Path("out"), 4, "rgb-x4", 10.0, None)
    assert list(m) == ["bspline", "bundle", "zero-data", "adapted"]
    assert m["adapted"][-2:] == ["--adapt", "10.0"] and "--time-budget" not in m["zero-data"]


def test_enhance2d_map_quality_reads_a_perfect_map_as_rho_1_ratio_1(tmp_path: Path) -> None:
    import numpy as np

    import medsr
    from medsr.image import Image, ImageMeta

    bench = _load("enhance2d")
    rng = np.random.default_rng(0)
    hr = Image(rng.uniform(100, 200, (1, 64, 64, 1)).astype(np.float32), meta=ImageMeta(spatial_dims=2))
    err = rng.uniform(0, 5, hr.data.shape).astype(np.float32)
    sr = hr.with_data(hr.data + err)
    medsr.write(hr.with_data(err), tmp_path / "u.nrrd")
    assert bench.map_quality(hr, sr, tmp_path / "u.nrrd", 4) == {"map_rho": "1.00", "map_ratio": "1.00"}
    medsr.write(hr.with_data(err / 2), tmp_path / "half.nrrd")
    assert bench.map_quality(hr, sr, tmp_path / "half.nrrd", 4)["map_ratio"] == "0.50"
