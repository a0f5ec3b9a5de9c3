"""Bundles: one safetensors file with JSON metadata; validation errors; pickles refused unrun."""

from __future__ import annotations

import json
import pathlib
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from medsr.errors import BundleError
from medsr.models.bundle import load_model, read_bundle_meta, save_bundle
from medsr.models.bundle_meta import FORMAT_VERSION, BundleMeta
from medsr.models.registry import build


def _meta(**kw) -> BundleMeta:
    base = dict(
        arch="fast",
        factors=(1, 4),
        channels=1,
        modality=["MR"],
        normalization={"mode": "percentile", "lo": [0.0], "hi": [1.0], "params": {"percentiles": [0.5, 99.5]}},
        degradations={"profile": "rect", "thickness_mm": 4.0},
        spacing_range_mm=[[0.8, 1.2]] * 2 + [[3, 5]],
        training_data="synthetic",
        metrics={"psnr_db": 30.0},
        license="CC0-1.0",
    )
    base.update(kw)
    return BundleMeta(**base)


@pytest.fixture
def bundle_path(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    net = build("fast", in_channels=1, factors=(1, 4), width=8, depth=2)
    return save_bundle(net, tmp_path / "m.safetensors", _meta())


def _rewrite_meta(src: Path, dst: Path, change) -> Path:
    """Copy a bundle with its medsr metadata edited by ``change(dict)``."""
    raw = src.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = json.loads(header["__metadata__"]["medsr"])
    change(meta)
    header["__metadata__"]["medsr"] = json.dumps(meta)
    new = json.dumps(header).encode()
    new += b" " * ((8 - len(new) % 8) % 8)
    dst.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + n :])
    return dst


def test_round_trip_keeps_weights_and_meta(bundle_path: Path) -> None:
    b = load_model(bundle_path)
    assert not b.model.training
    assert b.meta.arch == "fast" and b.meta.factors == (1, 4)
    assert b.meta.arch_kwargs == {"width": 8, "depth": 2, "skip": "linear"}
    assert b.meta.intended_use == "research, not diagnosis"
    assert b.meta.format_version == FORMAT_VERSION and b.meta.medsr_version
    assert b.descriptor.name == "fast"
    torch.manual_seed(0)
    ref = build("fast", in_channels=1, factors=(1, 4), width=8, depth=2).eval()
    x = torch.rand(1, 1, 9, 7)
    with torch.no_grad():
        assert torch.equal(b.model(x), ref(x))


def test_read_meta_needs_no_torch(bundle_path: Path) -> None:
    code = (
        "import sys; from medsr.models.bundle import read_bundle_meta; "
        f"m = read_bundle_meta({str(bundle_path)!r}); "
        "print(m.arch, m.metrics['psnr_db'], 'torch' in sys.modules, 'safetensors' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["fast", "30.0", "False", "False"]


@pytest.mark.parametrize(
    "change,needle",
    [
        (lambda m: m.pop("arch"), "lacks ['arch']"),
        (lambda m: m.update(arch="no-such-net"), "unknown architecture 'no-such-net'"),
        (lambda m: m.update(format_version=FORMAT_VERSION + 1), "newer"),
        (lambda m: m.update(format_version="one"), "format_version"),
        (lambda m: m.update(factors=[1, 1, 4]), "2D but got 3 factors"),
        (lambda m: m.update(arch_kwargs={"width": 16, "depth": 2}), "shape mismatch"),
        (lambda m: m.update(arch_kwargs={"depth": 3, "width": 8}), "missing"),
        (lambda m: m.update(arch_kwargs={"colour": "red"}), "cannot build"),
    ],
)
def test_bad_metadata_is_a_bundle_error(bundle_path: Path, tmp_path: Path, change, needle: str) -> None:
    bad = _rewrite_meta(bundle_path, tmp_path / "bad.safetensors", change)
    with pytest.raises(BundleError) as info:
        load_model(bad)
    assert needle in str(info.value)


def test_plain_safetensors_without_medsr_meta(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    p = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(p))
    with pytest.raises(BundleError, match="not a medsr bundle"):
        read_bundle_meta(p)


def test_truncated_and_garbage_files(tmp_path: Path, bundle_path: Path) -> None:
    short = tmp_path / "short.safetensors"
    short.write_bytes(bundle_path.read_bytes()[:5])
    trunc = tmp_path / "trunc.safetensors"
    trunc.write_bytes(bundle_path.read_bytes()[:-10])
    for p in (short, trunc, tmp_path / "missing.safetensors"):
        with pytest.raises(BundleError):
            load_model(p)


def test_save_refuses_mismatched_meta(tmp_path: Path) -> None:
    net = build("fast", in_channels=1, factors=(2, 2))
    with pytest.raises(BundleError, match="do not fit"):
        save_bundle(net, tmp_path / "x.safetensors", _meta(factors=(2, 2), channels=3))
    with pytest.raises(BundleError, match=".safetensors"):
        save_bundle(net, tmp_path / "x.pt", _meta(factors=(2, 2)))


# -- pickles --------------------------------------------------------------------------------------
class _Evil:
    """Unpickling this calls ``Path.touch(target)``: a harmless stand-in for arbitrary code."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.target),))


def test_evil_pickle_really_runs_code_when_unpickled(tmp_path: Path) -> None:
    """Control: the payload is live, so the refusal test below can fail."""
    target = tmp_path / "control-marker"
    pickle.loads(pickle.dumps(_Evil(target)))
    assert target.exists()


@pytest.mark.parametrize(
    "name", ["evil.pt", "evil.pth", "evil.ckpt", "evil.pkl", "evil.bin", "evil.safetensors", "evil.medsr"]
)
def test_pickles_are_refused_and_never_run(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / name
    path.write_bytes(pickle.dumps({"state_dict": _Evil(marker)}, protocol=4))
    for fn in (load_model, read_bundle_meta):
        with pytest.raises(BundleError) as info:
            fn(path)
        assert "pickle" in str(info.value) or "arbitrary code" in str(info.value)
    assert not marker.exists()


def test_zip_torch_checkpoint_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / "ckpt.pth"
    torch.save({"x": _Evil(marker)}, path)
    renamed = tmp_path / "ckpt.safetensors"
    renamed.write_bytes(path.read_bytes())
    for p in (path, renamed):
        with pytest.raises(BundleError, match="convert"):
            load_model(p)
    assert not marker.exists()


def test_protocol0_pickle_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / "old.safetensors"
    path.write_bytes(pickle.dumps(_Evil(marker), protocol=0))
    with pytest.raises(BundleError):
        load_model(path)
    assert not marker.exists()
