"""Atomic writes, output safety (never an input, never silently over an output) and sidecars."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from medsr.errors import OutputError
from medsr.image import Image
from medsr.io import read, sidecar_path, software_versions, write
from medsr.io.atomic import TMP_MARK, Staging
from tests.io.io_fixtures import sha256_tree


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_staging_commits_files_and_folders(tmp_path: Path) -> None:
    with Staging() as stage:
        stage.path_for(tmp_path / "a.txt").write_text("a")
        folder = stage.path_for(tmp_path / "series")
        folder.mkdir()
        (folder / "1.dcm").write_text("x")
        assert _names(tmp_path)[0].startswith(".a.txt" + TMP_MARK)  # hidden while being written
    assert _names(tmp_path) == ["a.txt", "series"] and _names(tmp_path / "series") == ["1.dcm"]


def test_owner_only_files_get_the_umask_mode(tmp_path: Path) -> None:
    """safetensors writes 0600; a bundle or output must be readable like any file the user makes."""
    import os

    from safetensors.numpy import save_file

    from medsr.io.atomic import atomic_write

    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "w.safetensors", lambda tmp: save_file({"a": np.zeros(2)}, str(tmp)))
        atomic_write(tmp_path / "private.txt", lambda tmp: (tmp.write_text("x"), tmp.chmod(0o640)))
    finally:
        os.umask(old)
    assert (tmp_path / "w.safetensors").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "private.txt").stat().st_mode & 0o777 == 0o640 and _names(tmp_path) == [
        "private.txt",
        "w.safetensors",
    ]


def test_staging_aborts_on_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with Staging() as stage:
            stage.path_for(tmp_path / "a.txt").write_text("half")
            raise RuntimeError("boom")
    assert _names(tmp_path) == []


def test_staging_rolls_back_a_replaced_file_when_a_later_move_fails(tmp_path: Path, monkeypatch: Any) -> None:
    import os

    (tmp_path / "a.txt").write_text("old")
    real_replace, real_link = os.replace, os.link

    def failing(real: Any) -> Any:
        def move(src: Any, dst: Any, **kw: Any) -> None:
            if Path(dst).name == "b.txt":
                raise OSError("no space")
            real(src, dst, **kw)

        return move

    stage = Staging(overwrite=True)
    stage.path_for(tmp_path / "a.txt").write_text("new")
    stage.path_for(tmp_path / "b.txt").write_text("new")
    monkeypatch.setattr(os, "replace", failing(real_replace))
    monkeypatch.setattr(os, "link", failing(real_link))
    with pytest.raises(OutputError, match="no space"):
        stage.commit()
    monkeypatch.setattr(os, "replace", real_replace)
    monkeypatch.setattr(os, "link", real_link)
    assert _names(tmp_path) == ["a.txt"] and (tmp_path / "a.txt").read_text() == "old"


def test_existing_output_needs_overwrite(tmp_path: Path, small_volume: Image) -> None:
    out = write(small_volume, tmp_path / "a.nrrd")
    before = out.read_bytes()
    with pytest.raises(OutputError, match="--overwrite") as err:
        write(small_volume.with_data(small_volume.data + 1), out)
    assert "\n" not in str(err.value) and "Remedy" in str(err.value)
    assert out.read_bytes() == before
    write(small_volume.with_data(small_volume.data + 1), out, overwrite=True)
    np.testing.assert_array_equal(read(out).data, small_volume.data + 1)
    assert _names(tmp_path) == ["a.nrrd"]


def test_missing_output_folder_is_refused(tmp_path: Path, small_volume: Image) -> None:
    with pytest.raises(OutputError, match="does not exist") as err:
        write(small_volume, tmp_path / "nope" / "a.nii.gz")
    assert "create it first" in str(err.value)
    assert _names(tmp_path) == []


def test_input_is_never_overwritten(tmp_path: Path, small_volume: Image) -> None:
    src = write(small_volume, tmp_path / "in.nii.gz")
    before = sha256_tree(src)
    img = read(src)
    with pytest.raises(OutputError, match="input"):
        write(img, src, overwrite=True)
    link = tmp_path / "link.nii.gz"
    link.symlink_to(src)
    with pytest.raises(OutputError, match="input"):
        write(img, link, overwrite=True, sidecar={})
    assert sha256_tree(src) == before and _names(tmp_path) == ["in.nii.gz", "link.nii.gz"]


def test_existing_dicom_folder_replaced_only_with_overwrite(
    ct_series: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    src = read(ct_series()["folder"])
    out = write(src, tmp_path / "sr")
    with pytest.raises(OutputError, match="--overwrite"):
        write(src, out)
    write(src.with_data(src.data + 1), out, overwrite=True)
    np.testing.assert_array_equal(read(out).data, src.data + 1)
    assert not [p for p in tmp_path.iterdir() if TMP_MARK in p.name]
    (tmp_path / "holder" / "sub").mkdir(parents=True)
    with pytest.raises(OutputError, match="sub-folders"):
        write(src, tmp_path / "holder", overwrite=True)


def test_sidecar_written_next_to_the_image(tmp_path: Path, small_volume: Image) -> None:
    img = small_volume.with_data(small_volume.data)
    img.meta.history.append({"op": "unit-test", "factor": 2})
    out = write(img, tmp_path / "enh.nii.gz", sidecar={"method": "bspline", "factors": [1, 1, 2]})
    side = tmp_path / "enh.json"
    assert sidecar_path(out) == side and _names(tmp_path) == ["enh.json", "enh.nii.gz"]
    data = json.loads(side.read_text())
    assert data["method"] == "bspline" and data["factors"] == [1, 1, 2]
    assert data["output"] == str(out) and data["format"] == "nifti" and data["dtype"] == "float32"
    assert data["shape"] == [24, 20, 12] and data["spacing_mm"] == [0.7, 0.7, 2.5]
    assert data["origin_mm"] == [-10.0, 20.0, 30.0] and np.allclose(data["direction"], np.eye(3))
    assert data["history"] == [{"op": "unit-test", "factor": 2}]
    assert {"medsr", "numpy", "SimpleITK", "pydicom", "python"} <= set(data["software"])
    assert data["created_utc"].endswith("+00:00")


def test_sidecar_of_a_dicom_folder_lies_beside_it(ct_series: Callable[..., dict[str, Any]], tmp_path: Path) -> None:
    src = read(ct_series()["folder"])
    out = write(src, tmp_path / "sr_series", sidecar={})
    data = json.loads((tmp_path / "sr_series.json").read_text())
    assert data["format"] == "dicom" and data["dtype"] == "int16"
    assert data["series_instance_uid"] and data["n_files"] == 6 and out.is_dir()


def test_failed_sidecar_leaves_no_image(tmp_path: Path, small_volume: Image, monkeypatch: Any) -> None:
    import medsr.io.sidecar as sidecar

    def broken(path: Path, data: dict[str, Any]) -> None:
        raise TypeError("not JSON-able")

    monkeypatch.setattr(sidecar, "write_json", broken)
    with pytest.raises(OutputError, match="not JSON-able"):
        write(small_volume, tmp_path / "a.nii.gz", sidecar={"x": 1})
    assert _names(tmp_path) == []


def test_existing_sidecar_needs_overwrite(tmp_path: Path, small_volume: Image) -> None:
    (tmp_path / "a.json").write_text("{}")
    with pytest.raises(OutputError, match="a.json"):
        write(small_volume, tmp_path / "a.nii.gz", sidecar={})
    assert _names(tmp_path) == ["a.json"]


def test_sidecar_path_names_and_versions() -> None:
    assert sidecar_path("x/out.nii.gz") == Path("x/out.json")
    assert sidecar_path("out.nrrd") == Path("out.json") and sidecar_path("out/") == Path("out.json")
    assert sidecar_path("a.b.tif") == Path("a.b.json")
    versions = software_versions()
    assert versions["medsr"] and versions["numpy"] == np.__version__


def test_stale_staging_of_a_dead_run_is_removed(tmp_path: Path) -> None:
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale = tmp_path / f".out.nii.gz{TMP_MARK}{pid}-abcd1234"
    stale.mkdir()
    (stale / "out.nii.gz").write_bytes(b"half")
    alive = tmp_path / f".other{TMP_MARK}1-abcd1234"  # pid 1 is alive: never touched
    alive.mkdir()
    with Staging() as stage:
        stage.path_for(tmp_path / "new.txt").write_text("x")
    assert not stale.exists() and alive.exists() and (tmp_path / "new.txt").read_text() == "x"


def test_two_runs_racing_for_one_output_cannot_both_win(tmp_path: Path) -> None:
    first, second = Staging(), Staging()
    first.path_for(tmp_path / "a.txt").write_text("first")
    second.path_for(tmp_path / "a.txt").write_text("second")  # both checked while a.txt did not exist
    first.commit()
    with pytest.raises(OutputError, match="exists|appeared"):
        second.commit()
    assert (tmp_path / "a.txt").read_text() == "first"
    assert not [p for p in tmp_path.iterdir() if TMP_MARK in p.name]


def test_overwrite_never_replaces_a_foreign_folder(tmp_path: Path, small_volume: Image) -> None:
    folder = tmp_path / "papers"
    folder.mkdir()
    (folder / "thesis.txt").write_text("years of work")
    with pytest.raises(OutputError, match="not written by medsr"):
        write(small_volume, folder, overwrite=True, format="dicom")
    assert (folder / "thesis.txt").read_text() == "years of work"


@pytest.mark.slow
def test_sigterm_leaves_nothing_half_written(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    src = write(Image(np.random.default_rng(0).random((1, 48, 48, 8)).astype(np.float32), spacing=(1, 1, 4)),
                tmp_path / "in.nii.gz")  # fmt: skip
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "medsr.cli.main",
            "enhance",
            str(src),
            "-o",
            str(out / "sr.nii.gz"),
            "--time-budget",
            "30",
        ],
        stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    time.sleep(6)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "terminated" in err.decode() and list(out.iterdir()) == []
