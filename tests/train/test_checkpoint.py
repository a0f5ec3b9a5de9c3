"""Checkpoints are safetensors + JSON, never pickles, and restore the optimizer exactly."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from medsr.errors import BundleError  # noqa: E402
from medsr.train.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint, save_checkpoint  # noqa: E402


def _net_and_opt(seed: int):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 3))
    return net, torch.optim.AdamW(net.parameters(), lr=1e-2, weight_decay=0.01)


def _steps(net, opt, n: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for _ in range(n):
        opt.zero_grad()
        net(torch.randn(2, 1, 9, 9, generator=g)).pow(2).mean().backward()
        opt.step()


def test_roundtrip_continues_bitwise(tmp_path: Path) -> None:
    net, opt = _net_and_opt(0)
    _steps(net, opt, 3, seed=1)
    path = save_checkpoint(tmp_path, 3, net, opt, extra={"best_psnr": 30.5})
    net2, opt2 = _net_and_opt(99)
    record = load_checkpoint(path, net2, opt2)
    assert record["step"] == 3 and record["best_psnr"] == 30.5
    _steps(net, opt, 2, seed=2)
    _steps(net2, opt2, 2, seed=2)
    for a, b in zip(net.parameters(), net2.parameters(), strict=False):
        assert torch.equal(a, b)


def test_file_is_plain_safetensors_without_pickle(tmp_path: Path) -> None:
    net, opt = _net_and_opt(0)
    _steps(net, opt, 1, seed=1)
    path = save_checkpoint(tmp_path, 1, net, opt)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    assert "medsr_checkpoint" in header["__metadata__"]
    assert any(k.startswith("optim.0.exp_avg") for k in header)
    assert b"\x80\x04" not in raw[:2] and raw[:4] != b"PK\x03\x04"


def test_keeps_only_the_newest(tmp_path: Path) -> None:
    net, opt = _net_and_opt(0)
    for step in (2, 4, 6):
        save_checkpoint(tmp_path, step, net, opt, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000004.safetensors", "step_00000006.safetensors"]
    assert latest_checkpoint(tmp_path).name == "step_00000006.safetensors"


def test_mismatching_or_foreign_files_are_refused(tmp_path: Path) -> None:
    net, opt = _net_and_opt(0)
    path = save_checkpoint(tmp_path, 1, net, opt)
    other = torch.nn.Conv2d(1, 2, 5)
    with pytest.raises(BundleError, match="does not fit the model"):
        load_checkpoint(path, other)
    bad = tmp_path / "checkpoints" / "step_00000009.safetensors"
    bad.write_bytes(b"garbage")
    with pytest.raises(BundleError, match="cannot read checkpoint"):
        load_checkpoint(bad, net)
