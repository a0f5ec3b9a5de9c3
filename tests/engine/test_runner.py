"""run_tiled: tiling never changes the result (exact halo), masks skip blocks, memmap = RAM."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medsr.engine.layout import plan_layout
from medsr.engine.runner import nearest_upsample, run_tiled
from medsr.engine.torch_backend import TorchBlockFn, prepare_model
from medsr.models.registry import build


def _fn(name: str, factors, shape, *, zero_padding: bool = True, **kw):
    torch.manual_seed(0)
    net = build(name, in_channels=1, factors=factors, **kw)
    with torch.no_grad():  # make the residual branch matter
        net.tail.weight.normal_(0, 0.05)
    lay = plan_layout(shape, (1.0, 1.0, 1.0), len(factors) == 2 and shape[2] == 1, len(factors), factors)
    return TorchBlockFn(prepare_model(net, zero_padding=zero_padding), layout=lay), int(net.halo), lay


def test_tiled_equals_whole_2d_with_overlap() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((1, 45, 38, 1), dtype=np.float32)
    fn, h, lay = _fn("fast", (2, 2), x.shape[1:])
    whole = run_tiled(fn, x, lay.scale, tile=None, halo=(h, h, 0))
    for tile, ov, blend in [
        ((16, 16, 1), (4, 4, 0), "gaussian"),
        ((13, 20, 1), (3, 0, 0), "hann"),
        ((8, 8, 1), 0, "none"),
    ]:
        tiled = run_tiled(fn, x, lay.scale, tile=tile, overlap=ov, halo=(h, h, 0), blend=blend)
        assert tiled.shape == (1, 90, 76, 1)
        assert np.abs(tiled - whole).max() < 1e-4


@pytest.mark.parametrize("name,kw", [("fast3d", {}), ("rdn3d", {"width": 8, "growth": 4, "blocks": 1, "layers": 2})])
def test_tiled_equals_whole_3d_through_plane(name: str, kw: dict) -> None:
    rng = np.random.default_rng(1)
    x = rng.random((1, 20, 17, 9), dtype=np.float32)
    fn, h, lay = _fn(name, (1, 1, 4), x.shape[1:], **kw)
    whole = run_tiled(fn, x, (1, 1, 4), tile=None, halo=h)
    tiled = run_tiled(fn, x, (1, 1, 4), tile=(8, 7, 4), overlap=(2, 2, 1), halo=h, blend="gaussian")
    assert tiled.shape == (1, 20, 17, 36)
    assert np.abs(tiled - whole).max() < 1e-4


def test_replicate_and_zero_padding_agree_inside_the_halo() -> None:
    rng = np.random.default_rng(2)
    x = rng.random((1, 30, 22, 1), dtype=np.float32)
    fz, h, lay = _fn("strong", (1, 4), x.shape[1:], zero_padding=True, width=8, groups=1, blocks=1)
    fr, _, _ = _fn("strong", (1, 4), x.shape[1:], zero_padding=False, width=8, groups=1, blocks=1)
    a = run_tiled(fz, x, lay.scale, tile=(10, 10, 1), halo=(h, h, 0))
    b = run_tiled(fr, x, lay.scale, tile=None, halo=(h, h, 0))
    assert np.abs(a - b).max() < 1e-4


def test_mask_skips_empty_blocks_and_fills_nearest() -> None:
    x = np.random.default_rng(3).random((2, 16, 16), dtype=np.float32)
    mask = np.zeros((16, 16), bool)
    mask[:4, :4] = True
    calls = []

    def fn(block: np.ndarray) -> np.ndarray:
        calls.append(block.shape)
        return nearest_upsample(block, (2, 3)) + 1.0

    out = run_tiled(fn, x, (2, 3), tile=8, halo=1, mask=mask)
    assert len(calls) == 1  # only the block holding foreground ran
    assert np.allclose(out[:, :16, :24], nearest_upsample(x, (2, 3))[:, :16, :24] + 1.0)
    assert np.allclose(out[:, 16:, :], nearest_upsample(x, (2, 3))[:, 16:, :])
    custom = run_tiled(fn, x, (2, 3), tile=8, mask=mask, fill=lambda b: np.zeros((2, b.shape[1] * 2, b.shape[2] * 3)))
    assert np.all(custom[:, 16:] == 0)


def test_memmap_output_equals_ram_and_progress_counts(tmp_path) -> None:
    rng = np.random.default_rng(4)
    x = rng.random((1, 25, 19, 1), dtype=np.float32)
    fn, h, lay = _fn("fast", (1, 4), x.shape[1:])
    seen = []
    ram = run_tiled(
        fn, x, lay.scale, tile=(8, 8, 1), overlap=(2, 2, 0), halo=(h, h, 0), progress=lambda d, t: seen.append((d, t))
    )
    mm = run_tiled(fn, x, lay.scale, tile=(8, 8, 1), overlap=(2, 2, 0), halo=(h, h, 0), out=tmp_path)
    assert isinstance(mm, np.memmap)
    assert np.array_equal(np.asarray(mm), ram)
    assert seen[-1][0] == seen[-1][1] == len(seen) and [d for d, _ in seen] == list(range(1, len(seen) + 1))
    pre = np.full(ram.shape, 7.0, np.float32)
    assert run_tiled(fn, x, lay.scale, tile=(8, 8, 1), overlap=(2, 2, 0), halo=(h, h, 0), out=pre) is pre
    assert np.array_equal(pre, ram)


def test_wrong_block_output_is_reported() -> None:
    with pytest.raises(ValueError, match="expected"):
        run_tiled(lambda b: b, np.zeros((1, 4, 4), np.float32), (2, 2))
