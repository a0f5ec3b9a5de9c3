"""The one batch planner (``medsr.batch``) and the ``enhance``/``predict`` behaviour it unifies:
every bullet of issue 9's "Why" that concerns folders has its test here."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from medsr.batch import find_scans, plan_batch, run_batch
from medsr.cli.main import main
from medsr.errors import OutputError, ReadError
from medsr.image import Image, ImageMeta
from medsr.io import read, write
from tests.io.io_fixtures import ct_volume, make_ct_series


def _thick(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    vol = (100 * rng.random((1, 24, 20, 5))).astype(np.float32)
    write(Image(vol, (0.8, 0.8, 4.0), meta=ImageMeta(modality="MR")), path)
    return path


def _strip_preambles(folder: Path) -> None:
    """Rewrite every file without the 128-byte preamble and the DICM marker."""
    for p in sorted(folder.iterdir()):
        raw = p.read_bytes()
        assert raw[128:132] == b"DICM"
        p.write_bytes(raw[132:])


def test_preamble_less_dicom_folder_is_one_scan(tmp_path: Path) -> None:
    folder = tmp_path / "ct"
    make_ct_series(folder, ct_volume())
    _strip_preambles(folder)
    assert all(p.read_bytes()[128:132] != b"DICM" for p in folder.iterdir())
    assert find_scans(folder) == [folder]  # enhance used to call this a batch with "no images"
    assert read(folder).shape[2] == len(list(folder.iterdir()))


def test_dicom_suffixes_and_content_are_scans(tmp_path: Path) -> None:
    make_ct_series(tmp_path / "series", ct_volume())
    one = sorted((tmp_path / "series").iterdir())[0]
    (tmp_path / "a.ima").write_bytes(one.read_bytes())
    (tmp_path / "b.dicom").write_bytes(one.read_bytes())
    (tmp_path / "noext").write_bytes(one.read_bytes())
    (tmp_path / "notes.txt").write_text("not a scan")
    names = [p.name for p in find_scans(tmp_path)]
    assert names == ["a.ima", "b.dicom", "noext", "series"]


def test_outputs_are_checked_before_any_work_and_sharding(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(5):
        _thick(src / f"s{i}.nii.gz", i)
    out = tmp_path / "out"
    parts = [plan_batch(src, out, num_parts=2, part_id=k) for k in (0, 1)]
    assert [j.source.name for j in parts[0].jobs] == ["s0.nii.gz", "s2.nii.gz", "s4.nii.gz"]
    assert [j.source.name for j in parts[1].jobs] == ["s1.nii.gz", "s3.nii.gz"] and parts[1].total == 5
    (out / "s3.nii.gz").write_bytes(b"someone's file")
    with pytest.raises(OutputError, match="exists"):
        plan_batch(src, out, num_parts=2, part_id=1)
    with pytest.raises(ReadError):
        plan_batch(tmp_path / "missing", out)


def test_done_means_every_output_exists(tmp_path: Path) -> None:
    src = _thick(tmp_path / "a.nii.gz")
    out = tmp_path / "sr.nii.gz"
    extra = tmp_path / "sr_uncertainty.nii.gz"

    def outs(job):
        return [(extra, False), (job.output, False), (tmp_path / "sr.json", False)]

    out.write_bytes(b"x")
    (tmp_path / "sr.json").write_text("{}")  # output and sidecar, but the uncertainty is missing
    with pytest.raises(OutputError):  # not done, and not to be overwritten silently
        plan_batch(src, out, outputs_of=outs, resume=True)
    extra.write_bytes(b"x")
    assert plan_batch(src, out, outputs_of=outs, resume=True).skipped  # all there: done


def test_run_batch_carries_on_past_a_failed_scan(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    _thick(src / "a.nii.gz")
    (src / "b.nii.gz").write_bytes(b"broken")
    _thick(src / "c.nii.gz")
    plan = plan_batch(src, tmp_path / "out")
    summary = run_batch(plan, lambda job: {"size": read(job.source).shape[0]})
    assert (summary.done, summary.failed, summary.exit_code) == (2, 1, 2)
    assert summary.rows[1]["status"].startswith("failed:") and "b.nii.gz" in summary.rows[1]["status"]


def test_enhance_refuses_an_existing_output_before_training(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = _thick(tmp_path / "thick.nii.gz")
    (tmp_path / "iso_uncertainty.nii.gz").write_bytes(b"mine")
    t0 = time.perf_counter()
    assert main(["enhance", str(src), "-o", str(tmp_path / "iso.nii.gz"), "--time-budget", "10"]) == 2
    assert time.perf_counter() - t0 < 2.0  # refused before any training
    assert "exists" in capsys.readouterr().err and (tmp_path / "iso_uncertainty.nii.gz").read_bytes() == b"mine"


def test_enhance_batch_survives_a_bad_scan_and_shards(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "in"
    src.mkdir()
    _thick(src / "a.nii.gz")
    (src / "b.nii.gz").write_bytes(b"not a volume")
    _thick(src / "c.nii.gz", 1)
    _thick(src / "d.nii.gz", 2)
    out = tmp_path / "out"
    args = ["enhance", str(src), "-o", str(out), "--steps", "2", "--threads", "1", "--no-tta"]
    assert main([*args, "--num-parts", "2", "--part-id", "1"]) == 2  # b and d: b fails, d is still written
    text = capsys.readouterr().out
    assert "1 written, 0 skipped, 1 failed" in text and "part 2 of 2" in text
    assert (out / "d.nii.gz").is_file() and (out / "d_uncertainty.nii.gz").is_file()
    assert not (out / "a.nii.gz").exists() and not (out / "c.nii.gz").exists()
    assert main([*args, "--num-parts", "2", "--part-id", "0"]) == 0
    assert (out / "a.nii.gz").is_file() and (out / "c.nii.gz").is_file()
    side = json.loads((out / "c.json").read_text())
    assert side["training"]["loss"] == "l1"  # the loss actually used, from FitConfig


def test_enhance_records_the_loss_it_used() -> None:
    from medsr.selfsup.config import EnhanceConfig
    from medsr.selfsup.enhance import enhance
    from medsr.selfsup.fit import FitConfig

    vol = np.random.default_rng(0).random((1, 24, 24, 6)).astype(np.float32)
    cfg = EnhanceConfig(steps=2, threads=1, tta=False, fit=FitConfig(loss="mse"))
    res = enhance(Image(vol, spacing=(1, 1, 4)), cfg)
    assert res.info["training"]["loss"] == "mse"
