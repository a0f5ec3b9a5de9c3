"""medsr.acquisition reproduces ``referee.py make`` on the MNI volume (contiguous and gap cases)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medsr.acquisition import degrade
from tests.acquisition.referee_case import mni_case, read_image

pytestmark = pytest.mark.shared


@pytest.mark.parametrize(
    "factors, thickness, ours",
    [
        ((1, 1, 4), None, None),
        ((1, 1, 5), (1, 1, 3), (None, None, 3.0)),  # 3 mm slices 5 mm apart: 2 mm gaps
    ],
)
def test_degrade_equals_referee_make(
    tmp_path_factory: pytest.TempPathFactory,
    mni_path: Path,
    factors: tuple,
    thickness: tuple | None,
    ours: tuple | None,
) -> None:
    case = mni_case(tmp_path_factory, factors, thickness)
    ref_lr = read_image(case / "lr.nii.gz")
    lr = degrade(read_image(mni_path), factors, thickness_mm=ours)
    assert lr.shape == ref_lr.shape
    np.testing.assert_allclose(lr.spacing, ref_lr.spacing, rtol=0, atol=1e-6)
    np.testing.assert_allclose(lr.origin, ref_lr.origin, rtol=0, atol=1e-5)
    np.testing.assert_allclose(lr.direction, ref_lr.direction, rtol=0, atol=1e-9)
    assert float(np.abs(lr.data - ref_lr.data).max()) <= 1e-4
    assert lr.meta.slice_thickness == (ours[2] if ours else 4.0)
