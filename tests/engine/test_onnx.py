"""ONNX export with dynamic axes; onnxruntime through the same engine matches torch; int8."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

from medsr.engine.onnx_backend import make_session  # noqa: E402
from medsr.engine.onnx_export import export_onnx  # noqa: E402
from medsr.engine.predict import predict  # noqa: E402
from medsr.image import Image, ImageMeta  # noqa: E402
from medsr.models.bundle import Bundle  # noqa: E402
from medsr.models.bundle_meta import BundleMeta  # noqa: E402
from medsr.models.registry import build, get_arch  # noqa: E402

CASES = [
    ("fast", (1, 4), {}),
    ("strong", (2, 2), {"width": 16, "groups": 2, "blocks": 1}),
    ("rdn3d", (1, 1, 2), {"width": 8, "growth": 4, "blocks": 1, "layers": 2}),
]


def _bundle(arch, factors, kw, channels=1) -> Bundle:
    torch.manual_seed(0)
    net = build(arch, in_channels=channels, factors=factors, **kw).eval()
    with torch.no_grad():
        net.tail.weight.normal_(0, 0.05)
    meta = BundleMeta(arch=arch, factors=factors, channels=channels, arch_kwargs=dict(net.config))
    return Bundle(net, meta, get_arch(arch), None)


@pytest.mark.parametrize("arch,factors,kw", CASES)
def test_exported_model_matches_torch_at_several_sizes(tmp_path, arch, factors, kw) -> None:
    import onnx

    b = _bundle(arch, factors, kw, channels=3 if arch == "fast" else 1)
    path = export_onnx(b, tmp_path / "m.onnx")
    onnx.checker.check_model(onnx.load(str(path)))
    sess = make_session(path, threads=2)
    nd = len(factors)
    for size in [(11, 7), (6, 13)] if nd == 2 else [(5, 6, 4), (7, 4, 5)]:
        x = np.random.default_rng(0).random((2, b.meta.channels, *size), dtype=np.float32)
        (y,) = sess.run(None, {"lr": x})
        with torch.no_grad():
            ref = b.model(torch.from_numpy(x)).numpy()
        assert y.shape == ref.shape == (2, b.meta.channels, *(s * f for s, f in zip(size, factors, strict=False)))
        assert np.abs(y - ref).max() < 1e-4


@pytest.mark.parametrize("arch,factors,kw", CASES)
def test_onnx_backend_through_the_engine_matches_torch(arch, factors, kw) -> None:
    rng = np.random.default_rng(1)
    img = Image(rng.random((1, 23, 19, 7), dtype=np.float32), spacing=(1.0, 1.0, 2.0))
    b = _bundle(arch, factors, kw)
    a = predict(img, b, tile=9, backend="torch")
    o = predict(img, b, tile=9, backend="onnx")
    assert a.shape == o.shape
    assert np.abs(a.data - o.data).max() < 1e-3


def test_int8_quantisation_costs_little() -> None:
    x, y = np.meshgrid(np.linspace(0, 6, 48), np.linspace(0, 5, 40), indexing="ij")
    data = (0.5 + 0.4 * np.sin(x) * np.cos(y))[None, :, :, None].astype(np.float32)
    img = Image(data, meta=ImageMeta(spatial_dims=2))
    b = _bundle("fast", (2, 2), {})
    ref = predict(img, b, tile=24, backend="onnx")
    q = predict(img, b, tile=24, backend="onnx-int8")
    mse = float(np.mean((q.data - ref.data) ** 2))
    psnr = 10 * np.log10(1.0 / max(mse, 1e-12))
    assert 30.0 < psnr < 200.0  # quantised (not identical) yet close
