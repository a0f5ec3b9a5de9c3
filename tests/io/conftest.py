"""Fixtures of the io tests (helpers live in io_fixtures.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import shared_path
from tests.io.io_fixtures import ct_volume, make_ct_series


@pytest.fixture
def mr_dir() -> Path:
    return shared_path("dicom/mr_brain_series")


@pytest.fixture
def cr_path() -> Path:
    return shared_path("xray/chest_cr.dcm")


@pytest.fixture
def ct_series(tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """A factory: ``ct_series(name="ct", **kwargs)`` writes a synthetic CT series under tmp_path."""

    def make(name: str = "ct", hu: np.ndarray | None = None, **kwargs: Any) -> dict[str, Any]:
        hu = ct_volume() if hu is None else hu
        info = make_ct_series(tmp_path / name, hu, **kwargs)
        info["hu"] = hu
        info["folder"] = tmp_path / name
        return info

    return make
