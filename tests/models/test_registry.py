"""The registry imports nothing until asked, validates factors/channels/options, and the
per-axis pixel shuffle and interpolation skip do what they say."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from medsr.errors import ConfigError
from medsr.models.descriptor import ArchDescriptor
from medsr.models.layers import SubpixelSkip
from medsr.models.registry import build, get_arch, list_archs, register
from medsr.models.shuffle import pixel_shuffle_nd, pixel_unshuffle_nd


def test_importing_the_registry_loads_no_torch_and_no_architecture() -> None:
    code = (
        "import sys, medsr, medsr.models, medsr.models.registry as r, medsr.engine, medsr.models.bundle; "
        "r.list_archs(); r.get_arch('strong'); "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('medsr.models.') "
        "and m.split('.')[-1] not in ('registry', 'descriptor', 'bundle', 'bundle_meta')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_required_architectures_exist() -> None:
    names = list_archs()
    assert {"fast", "strong"} <= set(names) and ({"rdn3d", "unet3d"} & set(names))
    assert get_arch("rdn3d").spatial_dims == 3 and get_arch("fast").spatial_dims == 2


def test_factor_and_channel_validation() -> None:
    d = get_arch("fast")
    assert d.check_factors(3) == (3, 3)
    for bad in [(9, 2), (1, 2, 2), (1.5, 2)]:
        with pytest.raises(ConfigError):
            d.check_factors(bad)
    with pytest.raises(ConfigError):
        build("fast", in_channels=2, factors=(2, 2))
    with pytest.raises(ConfigError, match="rejects options"):
        build("fast", in_channels=1, factors=(2, 2), colour="red")
    with pytest.raises(ConfigError, match="unknown architecture"):
        get_arch("nope")


def test_register_through_plane_only_descriptor(monkeypatch) -> None:
    from medsr.models import registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # undone after the test
    d = ArchDescriptor(
        name="_test_tp",
        summary="t",
        spatial_dims=2,
        builder="medsr.models.fast:FastSR",
        through_plane_only=True,
        factor_values=(1, 2, 4),
        defaults={"width": 4},
    )
    register(d, replace=True)
    assert build("_test_tp", in_channels=1, factors=(1, 2)).config["width"] == 4
    assert build("_test_tp", in_channels=1, factors=(1, 2), width=6).config["width"] == 6
    assert d.supports_factors((1, 4)) and not d.supports_factors((2, 2)) and not d.supports_factors((1, 3))
    with pytest.raises(ConfigError, match="already registered"):
        register(d)
    assert tuple(build("_test_tp", in_channels=1, factors=(1, 4))(torch.zeros(1, 1, 5, 5)).shape) == (1, 1, 5, 20)
    with pytest.raises(ConfigError):
        ArchDescriptor(name="x", summary="", spatial_dims=4, builder="a:b")


def test_pixel_shuffle_matches_torch_and_inverts() -> None:
    x = torch.randn(2, 12, 5, 6)
    assert torch.equal(pixel_shuffle_nd(x, (2, 2)), F.pixel_shuffle(x, 2))
    y = torch.randn(1, 2 * 15, 3, 4, 2)
    assert torch.equal(pixel_unshuffle_nd(pixel_shuffle_nd(y, (1, 3, 5)), (1, 3, 5)), y)
    z = torch.arange(4.0).reshape(1, 4, 1, 1, 1)
    assert pixel_shuffle_nd(z, (1, 1, 4)).flatten().tolist() == [0.0, 1.0, 2.0, 3.0]
    with pytest.raises(ValueError):
        pixel_shuffle_nd(torch.zeros(1, 5, 2, 2), (2, 2))


@pytest.mark.parametrize("factors", [(2, 2), (1, 4), (3, 5), (1, 1, 4), (2, 3, 1)])
def test_subpixel_skip_equals_interpolate(factors) -> None:
    x = torch.randn(1, 3, *((7, 6) if len(factors) == 2 else (5, 4, 6)))
    mode = "bilinear" if len(factors) == 2 else "trilinear"
    ref = F.interpolate(x, scale_factor=factors, mode=mode, align_corners=False)
    assert torch.allclose(pixel_shuffle_nd(SubpixelSkip(3, factors)(x), factors), ref, atol=1e-5)
    near = F.interpolate(x, scale_factor=factors, mode="nearest")
    assert torch.equal(pixel_shuffle_nd(SubpixelSkip(3, factors, "nearest")(x), factors), near)
