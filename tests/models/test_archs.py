"""Every registered architecture × representative factors × grey/RGB: shapes, one training step,
constant images, and the declared receptive-field halo."""

from __future__ import annotations

import itertools

import pytest
import torch

from medsr.models.registry import build, get_arch, list_archs

FACTORS_2D = [(2, 2), (4, 4), (1, 4), (3, 3)]
FACTORS_3D = [(1, 1, 2), (1, 1, 4), (2, 2, 2)]


def _cases() -> list[tuple[str, tuple[int, ...], int]]:
    cases = []
    for name in list_archs():
        d = get_arch(name)
        reps = FACTORS_2D if d.spatial_dims == 2 else FACTORS_3D
        facs = [f for f in reps if d.supports_factors(f)] or [(1,) * d.spatial_dims]
        cases += [(name, f, c) for f, c in itertools.product(facs, d.channels) if c in (1, 3)]
    return cases


def _small(name: str) -> dict:
    """Narrower options for the slow 3D nets so the whole file stays fast."""
    return {"rdn3d": {"width": 8, "growth": 4, "blocks": 2, "layers": 2}}.get(name, {})


@pytest.mark.parametrize("name,factors,channels", _cases())
def test_shape_and_one_training_step(name: str, factors: tuple[int, ...], channels: int) -> None:
    torch.manual_seed(0)
    d = get_arch(name)
    net = build(name, in_channels=channels, factors=factors, **_small(name))
    size = (7, 6) if d.spatial_dims == 2 else (5, 4, 3)
    scale = factors if d.input_grid == "lr" else (1,) * d.spatial_dims
    x = torch.rand(2, channels, *size)
    target = torch.rand(2, channels, *(s * f for s, f in zip(size, scale, strict=False)))
    y = net(x)
    assert tuple(y.shape) == tuple(target.shape)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss0 = torch.nn.functional.l1_loss(y, target)
    before = [p.detach().clone() for p in net.parameters()]
    loss0.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in net.parameters())
    opt.step()
    loss1 = torch.nn.functional.l1_loss(net(x), target)
    assert torch.isfinite(loss0) and torch.isfinite(loss1)
    changed = any(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    assert changed, "Adam step changed nothing"


@pytest.mark.parametrize("name", list_archs())
def test_constant_image_gives_constant_output(name: str) -> None:
    d = get_arch(name)
    if d.input_grid != "lr":
        pytest.skip("takes pre-interpolated input")
    torch.manual_seed(1)
    facs = (2, 3) if d.spatial_dims == 2 else (1, 2, 3)
    net = build(name, in_channels=3, factors=facs, **_small(name)).eval()
    x = torch.ones(1, 3, *((9,) * d.spatial_dims)) * torch.tensor([0.2, 0.5, 0.9]).view(1, 3, *([1] * d.spatial_dims))
    with torch.no_grad():
        y = net(x)
    dims = tuple(range(2, y.dim()))
    spread = (y.amax(dim=dims) - y.amin(dim=dims)).max().item()
    assert spread < 1e-5 * max(1.0, y.abs().max().item())


@pytest.mark.parametrize("name", list_archs())
def test_receptive_field_within_declared_halo(name: str) -> None:
    """A change just beyond ``model.halo`` LR voxels must not reach the output of voxel 0."""
    d = get_arch(name)
    if d.input_grid != "lr":
        pytest.skip("takes pre-interpolated input")
    torch.manual_seed(2)
    facs = (2, 2) if d.spatial_dims == 2 else (1, 1, 2)
    net = build(name, in_channels=1, factors=facs, **_small(name)).eval()
    h = int(net.halo)
    n = 2 * h + 3 if d.spatial_dims == 2 else h + 4
    x = torch.rand(1, 1, *((n,) * d.spatial_dims))
    x2 = x.clone()
    far = (0, 0) + (h + 1,) * d.spatial_dims  # Chebyshev distance h + 1 from voxel 0
    x2[far] += 5.0
    with torch.no_grad():
        y, y2 = net(x), net(x2)
    corner = (0, 0) + tuple(slice(0, f) for f in facs)
    assert torch.equal(y[corner], y2[corner])
    near = (0, 0) + (1,) * d.spatial_dims
    x3 = x.clone()
    x3[near] += 5.0
    with torch.no_grad():
        assert not torch.equal(net(x3)[corner], y[corner])  # the test can see a change


def test_descriptors_are_consistent_with_built_models() -> None:
    for name in list_archs():
        d = get_arch(name)
        if d.input_grid != "lr":
            continue
        facs = (2,) * d.spatial_dims
        net = build(name, in_channels=1, factors=facs)
        n = sum(p.numel() for p in net.parameters())
        assert 0.7 * d.params <= n <= 1.3 * d.params, (name, n, d.params)
        assert int(net.halo) == d.halo, (name, net.halo, d.halo)


def test_fast_is_small_and_strong_about_a_million() -> None:
    fast = build("fast", in_channels=1, factors=(2, 2))
    strong = build("strong", in_channels=1, factors=(2, 2))
    assert sum(p.numel() for p in fast.parameters()) <= 50_000
    assert 0.8e6 <= sum(p.numel() for p in strong.parameters()) <= 1.3e6


def test_zero_residual_is_linear_interpolation() -> None:
    """With the sub-pixel conv zeroed the nets output exactly F.interpolate(linear)."""
    x = torch.rand(1, 1, 6, 5)
    net = build("fast", in_channels=1, factors=(3, 2)).eval()
    with torch.no_grad():
        net.tail.weight.zero_()
        ref = torch.nn.functional.interpolate(x, scale_factor=(3, 2), mode="bilinear", align_corners=False)
        assert torch.allclose(net(x), ref, atol=1e-6)
