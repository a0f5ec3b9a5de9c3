"""``strong``: an EDSR/RCAN-lite residual network (about 1 M parameters at width 64).

Residual groups of EDSR residual blocks (Lim et al., CVPRW 2017), each group closed by channel
attention and a convolution with a group skip, as in RCAN (Zhang et al., ECCV 2018). RCAN pools
globally for its attention; here the pooling is a 7-voxel local box mean
(:class:`~medsr.models.layers.LocalChannelAttention`) so the receptive field is finite and
tiled inference is exact. All convolutions run on the LR grid at ``width`` channels (wide 3×3
convolutions are what oneDNN runs closest to peak), with replicate padding so a constant image
maps to a constant output; a per-axis pixel shuffle and a linear-interpolation skip finish.

Example:
    >>> import torch
    >>> net = StrongSR(in_channels=3, factors=(2, 2), width=16, groups=1, blocks=1)
    >>> net(torch.zeros(1, 3, 9, 8)).shape
    torch.Size([1, 3, 18, 16])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from medsr.models.layers import LocalChannelAttention, SubpixelConv, SubpixelSkip, conv
from medsr.models.shuffle import pixel_shuffle_nd


class _ResBlock(nn.Module):
    def __init__(self, dims: int, width: int, res_scale: float, padding: str) -> None:
        super().__init__()
        self.conv1 = conv(dims, width, width, 3, padding=padding)
        self.conv2 = conv(dims, width, width, 3, padding=padding)
        self.act = nn.ReLU(inplace=True)
        self.res_scale = float(res_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.conv2(self.act(self.conv1(x)))  # fresh tensor: in-place ops save allocations
        if self.res_scale != 1.0:
            r = r.mul_(self.res_scale)
        return r.add_(x)


class _Group(nn.Module):
    def __init__(
        self, dims: int, width: int, blocks: int, res_scale: float, reduction: int, window: int, padding: str
    ) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[_ResBlock(dims, width, res_scale, padding) for _ in range(blocks)])
        self.attention = LocalChannelAttention(dims, width, reduction, window)
        self.conv = conv(dims, width, width, 3, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.attention(self.blocks(x))).add_(x)


class StrongSR(nn.Module):
    """Residual-group SR network on the LR grid; 2D or 3D by ``len(factors)``.

    Args:
        in_channels: 1 (grey) or 3 (RGB); the output has the same channels.
        factors: per-axis integer factors, e.g. ``(2, 2)`` or ``(1, 4)``.
        width: feature channels (64 ≈ 1.05 M parameters with the defaults).
        groups: residual groups; blocks: residual blocks per group.
        reduction: channel-attention bottleneck ratio; ca_window: its pooling window (voxels).
        res_scale: scale of each residual branch (EDSR uses 0.1 for wide nets).
        skip: ``"linear"`` or ``"nearest"`` global interpolation skip.
        padding: ``"replicate"`` (constant-preserving) or ``"zeros"``.

    Input ``(N, C, *S)`` → ``(N, C, *(S·f))``; :attr:`halo` is the receptive-field radius (LR).
    """

    def __init__(
        self,
        in_channels: int = 1,
        factors: Sequence[int] = (2, 2),
        *,
        width: int = 64,
        groups: int = 3,
        blocks: int = 4,
        reduction: int = 16,
        ca_window: int = 7,
        res_scale: float = 1.0,
        skip: str = "linear",
        padding: str = "replicate",
    ) -> None:
        super().__init__()
        self.factors = tuple(int(f) for f in factors)
        dims = len(self.factors)
        if dims not in (2, 3) or min(width, groups, blocks) < 1:
            raise ValueError(
                f"StrongSR needs 2 or 3 factors and positive sizes; got {self.factors}, "
                f"width={width}, groups={groups}, blocks={blocks}"
            )
        self.config: dict[str, Any] = {
            "width": width,
            "groups": groups,
            "blocks": blocks,
            "reduction": reduction,
            "ca_window": ca_window,
            "res_scale": res_scale,
            "skip": skip,
            "padding": padding,
        }
        self.in_channels = int(in_channels)
        self.head = conv(dims, in_channels, width, 3, padding=padding)
        self.groups = nn.Sequential(
            *[_Group(dims, width, blocks, res_scale, reduction, ca_window, padding) for _ in range(groups)]
        )
        self.body_conv = conv(dims, width, width, 3, padding=padding)
        self.tail = SubpixelConv(dims, width, in_channels, self.factors, 3, padding=padding)
        with torch.no_grad():
            self.tail.weight.mul_(0.1)
        self.skip = SubpixelSkip(in_channels, self.factors, skip, pad=True)
        n_conv = 1 + groups * (2 * blocks + 1) + 1 + 1
        self.halo = max(n_conv + groups * (ca_window // 2), self.skip.halo)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = self.head(x)
        h = self.body_conv(self.groups(h0)).add_(h0)
        y = self.tail(h).add_(self.skip(x))
        return pixel_shuffle_nd(y, self.factors)
