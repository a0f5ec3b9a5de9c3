"""The hostile and broken input corpus (issue 8), run as a user would: the ``medsr`` command in a
subprocess of its own, with a 4 GB address-space limit and a 60 s timeout.

Each case asserts exit code 2, exactly one line on stderr, nothing written (the output folder
as it was, no staging left), every input byte-identical (sha256), and the time and memory
bounds. The cases themselves are built in :mod:`tests.io.hostile_cases`.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.io.hostile_cases import CASES
from tests.io.io_fixtures import sha256_tree

LIMIT_BYTES = 4 << 30
LIMIT_S = 60.0


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES, LIMIT_BYTES))


def _listing(folder: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(folder)), p.lstat().st_size) for p in folder.rglob("*"))


def run_medsr(argv: list[str]) -> tuple[int, str, float, int]:
    """``(exit code, stderr, seconds, peak RSS bytes)`` of ``medsr argv`` in a fresh process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MEDSR_TEST_CHILD": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "medsr.cli.main", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        preexec_fn=_limit,
    )
    try:
        _, err = proc.communicate(timeout=LIMIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"medsr {' '.join(argv)} hung for more than {LIMIT_S} s")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return proc.returncode, err.decode(errors="replace"), time.perf_counter() - t0, peak


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input_ends_cleanly(name: str, tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    argv, inputs = CASES[name](src, out)
    before = {str(p): sha256_tree(p) for p in inputs}
    listing = _listing(out)
    code, err, seconds, peak = run_medsr(argv)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, f"{name}: exit {code}, stderr {err[-2000:]}"
    assert len(lines) == 1 and "Remedy" in lines[0], f"{name}: stderr is not one line with a remedy: {err[-2000:]}"
    assert "Traceback" not in err and "itk" not in lines[0].lower().replace("simpleitk", ""), lines[0]
    assert _listing(out) == listing, f"{name}: something was written"
    assert not [p for p in tmp_path.rglob("*") if ".medsr-tmp-" in p.name]
    assert {str(p): sha256_tree(p) for p in inputs} == before, f"{name}: an input changed"
    assert seconds < LIMIT_S and peak < LIMIT_BYTES


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40
