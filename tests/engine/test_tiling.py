"""Block plans cover the image exactly; windows never vanish; the stitcher blends and streams."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from medsr.engine.blending import FLOOR, axis_window, block_weight
from medsr.engine.stitch import Stitcher, temp_memmap
from medsr.engine.tiling import plan_tiles
from medsr.errors import ConfigError


@pytest.mark.parametrize(
    "shape,scale,tile,overlap,halo,mult",
    [
        ((37, 20), (2, 2), 16, 4, 3, 1),
        ((10, 9, 7), (1, 1, 4), (4, None, 3), (1, 0, 1), (2, 0, 1), 1),
        ((5, 33), (3, 1), 8, 7, 0, 4),
        ((12, 12, 12), 2, 12, 2, 5, 8),
        ((1, 9), (1, 5), 4, 2, 2, 1),
    ],
)
def test_blocks_cover_the_image_and_the_output_exactly(shape, scale, tile, overlap, halo, mult) -> None:
    plan = plan_tiles(shape, scale, tile=tile, overlap=overlap, halo=halo, size_multiple=mult)
    sc = plan.scale
    assert plan.out_shape == tuple(n * f for n, f in zip(shape, sc, strict=False))
    cover_lr = np.zeros(shape, int)
    cover_hr = np.zeros(plan.out_shape, int)
    for b in plan.blocks:
        cover_lr[b.core] += 1
        cover_hr[b.out] += 1
        for a in range(len(shape)):
            assert b.src_shape[a] % mult == 0
            assert b.src[a].start == b.core[a].start  # in padded coordinates: halo before the core
            assert b.src_shape[a] >= b.core_shape[a] + 2 * plan.halo[a]
            crop = b.crop[a]
            assert crop.stop - crop.start == b.core_shape[a] * sc[a] == b.out[a].stop - b.out[a].start
            assert b.at_lo[a] == (b.core[a].start == 0) and b.at_hi[a] == (b.core[a].stop == shape[a])
    assert cover_lr.min() >= 1 and cover_hr.min() >= 1
    if plan.disjoint:
        assert cover_lr.max() == 1


def test_padding_gives_every_block_its_full_input() -> None:
    plan = plan_tiles((9, 9), (2, 2), tile=4, overlap=1, halo=3, size_multiple=4)
    padded_shape = [n + lo + hi for n, (lo, hi) in zip((9, 9), plan.pad_width, strict=False)]
    for b in plan.blocks:
        assert all(s.stop <= p for s, p in zip(b.src, padded_shape, strict=False))


def test_whole_axis_tiles_and_single_block() -> None:
    plan = plan_tiles((6, 5, 4), (1, 1, 4), tile=None, halo=2)
    assert len(plan.blocks) == 1 and plan.disjoint
    assert plan.out_shape == (6, 5, 16)
    assert plan.blocks[0].crop == (slice(2, 8), slice(2, 7), slice(8, 24))


def test_bad_plans_raise_config_errors() -> None:
    with pytest.raises(ConfigError):
        plan_tiles((8, 8), (2, 2), tile=0)
    with pytest.raises(ConfigError):
        plan_tiles((8, 8), (0, 2))
    with pytest.raises(ConfigError):
        plan_tiles((8, 8), (2, 2), tile=(4, 4, 4))


@pytest.mark.parametrize("kind", ["gaussian", "hann", "none"])
def test_windows_are_positive_and_flat_at_image_borders(kind: str) -> None:
    for lo, hi in itertools.product([True, False], repeat=2):
        w = axis_window(10, 3, 4, lo, hi, kind)
        assert w.shape == (30,) and w.min() >= FLOOR and w.max() <= 1.0
        if lo:
            assert w[0] == 1.0
        if hi:
            assert w[-1] == 1.0
    if kind != "none":
        inner = axis_window(10, 3, 4, False, False, kind)
        assert inner[0] < 0.5 and inner[15] == pytest.approx(1.0, abs=0.02)


def test_block_weight_is_an_outer_product() -> None:
    plan = plan_tiles((20, 20), (2, 1), tile=8, overlap=2)
    b = plan.blocks[4]
    w = block_weight(plan, b, "hann")
    assert w.shape == (16, 8)
    assert np.allclose(w, np.outer(w[:, 4] / w[8, 4], w[8, :]), atol=1e-6)


def test_stitcher_blends_and_memmap_matches_ram(tmp_path) -> None:
    rng = np.random.default_rng(0)
    results = []
    for folder in (None, tmp_path):
        s = Stitcher(2, (6, 5), folder=folder)
        s.add(np.full((2, 4, 5), 1.0), (slice(0, 4), slice(0, 5)), np.full((4, 5), 1.0, np.float32))
        s.add(np.full((2, 4, 5), 4.0), (slice(2, 6), slice(0, 5)), np.full((4, 5), 2.0, np.float32))
        out = s.finalize()
        results.append(np.array(out))
        assert isinstance(out, np.memmap) == (folder is not None)
    assert np.array_equal(results[0], results[1])
    assert np.allclose(results[0][:, :2], 1.0) and np.allclose(results[0][:, 2:4], 3.0)
    assert np.allclose(results[0][:, 4:], 4.0)
    assert list(tmp_path.iterdir()) == []  # memmap files are unlinked at once
    m = temp_memmap(tmp_path, (3, 4))
    m[:] = rng.random((3, 4))
    assert m.shape == (3, 4)
