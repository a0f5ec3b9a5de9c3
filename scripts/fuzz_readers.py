"""Fuzz medsr's readers: mutate valid files of every format and read each in its own subprocess.

Seeds are made here (NIfTI, NIfTI.gz, NRRD, detached NRRD, MHA, MHD+raw, DICOM, PNG 8/16-bit,
TIFF, JPEG). Each round picks a seed and applies one or more mutations (bit flips, byte runs,
truncation, duplication, and for text headers a field set to a hostile value: huge, negative,
NaN, 1e308, a path out of the folder), then runs ``medsr info FILE`` in a fresh process with a
4 GB address-space limit and a 10 s timeout. Outcomes:

* ``ok``: read (exit 0); ``medsr-error``: a clean one-line medsr error (exit 2);
* ``escaped``: an internal error (exit 1) or more than one line on stderr;
* ``death``: killed by a signal (SIGSEGV, SIGABRT …); ``hang``: over the timeout.

The target is 0 deaths, 0 hangs and 0 escaped. Failing inputs are kept under ``--keep``.

Run: ``python scripts/fuzz_readers.py --minutes 10 [--workers 2] [--seed 0] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HOSTILE = ["-99999", "0", "-1", "99999999999", "1e308", "-1e308", "nan", "inf", "", "x", "../../../../etc/passwd",
           "/proc/self/environ", "LIST", "%d 1 99999999 1", "1 2", "1 2 3 4 5 6 7 8 9 10", "MET_GARBAGE",
           "True", "-50"]  # fmt: skip


def make_seeds(folder: Path) -> list[list[Path]]:
    """Valid files of every format; each seed is a list (header first, then companions)."""
    import pydicom  # noqa: F401 - required by the DICOM seed
    import SimpleITK as sitk
    from PIL import Image as PILImage

    rng = np.random.default_rng(0)
    vol = (rng.random((6, 10, 12)) * 1000 - 500).astype(np.int16)
    img = sitk.GetImageFromArray(vol)
    img.SetSpacing((0.8, 0.9, 3.0))
    img.SetOrigin((1.0, -2.0, 3.0))
    seeds: list[list[Path]] = []
    for name, compress in (("a.nii", False), ("b.nii.gz", True), ("c.nrrd", False), ("d.nrrd", True),
                           ("e.mha", False), ("f.mha", True)):  # fmt: skip
        sitk.WriteImage(img, str(folder / name), compress)
        seeds.append([folder / name])
    sitk.WriteImage(img, str(folder / "g.mhd"))
    seeds.append([folder / "g.mhd", folder / "g.raw"])
    sitk.WriteImage(img, str(folder / "h.nhdr"))
    seeds.append([folder / "h.nhdr", *[p for p in folder.iterdir() if p.name.startswith("h.") and p.suffix != ".nhdr"]])
    plane = (rng.random((40, 50)) * 255).astype(np.uint8)
    PILImage.fromarray(plane).save(folder / "i.png")
    PILImage.fromarray(plane.astype(np.uint16) * 200).save(folder / "j.png")
    PILImage.fromarray(plane).save(folder / "k.tif")
    PILImage.fromarray(plane).convert("RGB").save(folder / "l.jpg")
    seeds += [[folder / n] for n in ("i.png", "j.png", "k.tif", "l.jpg")]
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.io.io_fixtures import make_single

    make_single(folder / "m.dcm", (rng.random((12, 10)) * 4000).astype(np.uint16), modality="CT", bits=16)
    seeds.append([folder / "m.dcm"])
    return seeds


def _mutate_text(data: bytes, rnd: random.Random) -> bytes:
    lines = data.split(b"\n")
    header = [i for i, ln in enumerate(lines[:40]) if (b"=" in ln or b":" in ln) and len(ln) < 300]
    if not header:
        return data
    i = rnd.choice(header)
    sep = b" = " if b"=" in lines[i] else b": "
    key = lines[i].split(sep.strip(), 1)[0].strip()
    lines[i] = key + sep + rnd.choice(HOSTILE).encode()
    return b"\n".join(lines)


def mutate(data: bytes, rnd: random.Random, text_header: bool) -> bytes:
    out = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        kind = rnd.random()
        if text_header and kind < 0.4:
            out = bytearray(_mutate_text(bytes(out), rnd))
        elif kind < 0.6 and out:
            for _ in range(rnd.randint(1, 16)):
                j = rnd.randrange(len(out))
                out[j] ^= 1 << rnd.randrange(8)
        elif kind < 0.75 and out:
            j = rnd.randrange(len(out))
            out[j : j + rnd.randint(1, 8)] = bytes(rnd.choice((0, 0xFF, 0x7F, 0x80)) for _ in range(rnd.randint(1, 8)))
        elif kind < 0.9 and len(out) > 8:
            del out[rnd.randrange(8, len(out)) :]
        elif out:
            j = rnd.randrange(len(out))
            out[j:j] = out[j : j + rnd.randint(1, 512)]
    return bytes(out)


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def run_one(path: Path, timeout: float) -> tuple[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "medsr.cli.main", "info", str(path)],
            capture_output=True, timeout=timeout, env=env, preexec_fn=_limit, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return "hang", ""
    err = proc.stderr.decode(errors="replace")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if proc.returncode < 0:
        return "death", f"signal {-proc.returncode}"
    if proc.returncode == 0:  # medsr's own warnings (e.g. an assumed spacing) are fine
        return ("ok" if all(ln.startswith("medsr: WARNING:") for ln in lines) else "escaped"), err[-300:]
    if proc.returncode == 2 and len(lines) == 1 and "error:" in lines[0]:
        return "medsr-error", lines[0][:200]
    return "escaped", err[-300:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--keep", default=None, help="copy failing inputs here")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="medsr-fuzz-"))
    (work / "seeds").mkdir()
    seeds = make_seeds(work / "seeds")
    keep = Path(args.keep) if args.keep else None
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
    counts: collections.Counter[str] = collections.Counter()
    by_format: collections.Counter[tuple[str, str]] = collections.Counter()
    deadline = time.monotonic() + 60 * args.minutes

    def task(i: int) -> None:
        rnd = random.Random(args.seed * 1_000_003 + i)
        seed = rnd.choice(seeds)
        case = work / f"case{i:06d}"
        case.mkdir()
        for n, f in enumerate(seed):
            data = f.read_bytes()
            text = f.suffix in (".mhd", ".nhdr", ".mha", ".nrrd") and n == 0
            (case / f.name).write_bytes(mutate(data, rnd, text) if n == 0 or rnd.random() < 0.3 else data)
        outcome, detail = run_one(case / seed[0].name, args.timeout)
        counts[outcome] += 1
        by_format[(seed[0].suffix, outcome)] += 1
        if outcome in ("death", "hang", "escaped"):
            print(f"{outcome}: {seed[0].name} case{i:06d} {detail.strip()[:200]}", flush=True)
            if keep:
                shutil.copytree(case, keep / case.name, dirs_exist_ok=True)
        shutil.rmtree(case, ignore_errors=True)

    i = 0
    with ThreadPoolExecutor(args.workers) as pool:
        futures = []
        while time.monotonic() < deadline:
            futures = [f for f in futures if not f.done()]
            while len(futures) < 2 * args.workers:
                futures.append(pool.submit(task, i))
                i += 1
            time.sleep(0.05)
        for f in futures:
            f.result()
    total = sum(counts.values())
    print(f"\n{total} files in {args.minutes:g} min ({args.workers} workers, seed {args.seed})")
    for k in ("ok", "medsr-error", "escaped", "death", "hang"):
        print(f"  {k:12s} {counts.get(k, 0)}")
    print("per format:", {f"{s}:{o}": n for (s, o), n in sorted(by_format.items())})
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
