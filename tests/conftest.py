"""Shared fixtures: paths to the real scans in ../shared/data and small generated images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medsr.image import Image, ImageMeta

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__import__("os").environ.get("MEDSR_SHARED", REPO.parent / "shared")).resolve()
DATA = SHARED / "data"
REFEREE = SHARED / "referee" / "referee.py"


def shared_path(rel: str) -> Path:
    """A file under ../shared/data; the test is skipped when the folder is absent."""
    p = DATA / rel
    if not p.exists():
        pytest.skip(f"shared data not available: {p}")
    return p


@pytest.fixture
def mni_path() -> Path:
    return shared_path("mri/mni152_t1_1mm.nii.gz")


@pytest.fixture
def ct_path() -> Path:
    return shared_path("ct/lung1_image.nrrd")


@pytest.fixture
def dicom_series_dir() -> Path:
    return shared_path("dicom/mr_brain_series")


@pytest.fixture
def small_volume() -> Image:
    """A 24×20×12 synthetic CT-like volume (HU) with an oblique-free LPS grid."""
    rng = np.random.default_rng(0)
    x, y, z = np.meshgrid(np.linspace(-1, 1, 24), np.linspace(-1, 1, 20), np.linspace(-1, 1, 12), indexing="ij")
    body = ((x**2 + y**2) < 0.8).astype(np.float32)
    data = -1000 + body * (1040 + 200 * np.sin(4 * x) * np.cos(3 * z)) + rng.normal(0, 5, x.shape)
    meta = ImageMeta(modality="CT", units="HU", source_dtype="int16", slice_thickness=2.5)
    return Image(data[None].astype(np.float32), spacing=(0.7, 0.7, 2.5), origin=(-10.0, 20.0, 30.0), meta=meta)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One torch thread per test (pytest -n 2 already uses both cores): inputs in tests are tiny,
    and on a busy machine two OpenMP threads spin at every barrier (10-30× slower). Restored
    afterwards; a test may still set its own count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
