"""Run ../shared/referee/referee.py as a subprocess and cache its MNI cases per test session.

Not a test module: the tests of degrade, baselines, metrics and figures import it so that the
referee builds each case (``make``) and its ``baseline`` once per process, under pytest's
session temporary folder (``tmp_path_factory``), which pytest cleans up after a few runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REFEREE, shared_path

MNI = "mri/mni152_t1_1mm.nii.gz"
_CACHE: dict[tuple, Path] = {}


def run_referee(*args: str | Path, timeout: float = 300) -> dict[str, Any]:
    """The JSON printed on the last line of ``referee.py ARGS``."""
    if not REFEREE.exists():
        pytest.skip(f"referee not available: {REFEREE}")
    proc = subprocess.run(
        [sys.executable, str(REFEREE), *map(str, args)], capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise AssertionError(f"referee {args} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def mni_case(
    tmp_path_factory: Any,
    factors: Sequence[int] = (1, 1, 4),
    thickness: Sequence[float] | None = None,
    with_baseline: bool = False,
) -> Path:
    """A referee case folder built from the MNI volume (cached for the whole session)."""
    hr = shared_path(MNI)
    key = (tuple(factors), None if thickness is None else tuple(thickness))
    if key not in _CACHE:
        name = "referee_mni_f" + "_".join(map(str, factors))
        name += "_t" + "_".join(map(str, thickness)) if thickness else ""
        case = tmp_path_factory.getbasetemp() / name
        args: list[str | Path] = ["make", hr, case, "--factors", *map(str, factors)]
        if thickness is not None:
            args += ["--thickness", *map(str, thickness)]
        run_referee(*args)
        _CACHE[key] = case
    case = _CACHE[key]
    if with_baseline and not (case / "baseline.json").exists():
        run_referee("baseline", case)
    return case


def read_image(path: Path) -> Any:
    """A medsr Image read with SimpleITK (independent of medsr.io)."""
    import SimpleITK as sitk

    from medsr.sitk_bridge import from_sitk

    return from_sitk(sitk.ReadImage(str(path)))


def write_image(image: Any, path: Path) -> Path:
    import SimpleITK as sitk

    from medsr.sitk_bridge import to_sitk

    sitk.WriteImage(to_sitk(image), str(path))
    return path


_SCORES: dict[tuple, tuple[Any, dict[str, Any]]] = {}


def our_upsample_scored(tmp_path_factory: Any, case: Path, method: str) -> tuple[Any, dict[str, Any]]:
    """``(our upsampled Image, referee score of it)`` for the case's LR (cached for the session)."""
    from medsr.baselines import upsample

    key = (str(case), method)
    if key not in _SCORES:
        factors = json.loads((case / "case.json").read_text())["factors"]
        up = upsample(read_image(case / "lr.nii.gz"), factors=factors, method=method)
        path = write_image(up, case / f"medsr_{method}.nii.gz")
        _SCORES[key] = (up, run_referee("score", case, path))
    return _SCORES[key]
