"""``rdn3d``: a compact 3D residual dense network with a per-axis 3D pixel shuffle.

Residual dense blocks (Zhang et al., RDN, CVPR 2018) with 3D convolutions, as used for volumes
by mDCSRN (Chen et al., MICCAI 2018): inside a block every 3×3×3 convolution sees the
concatenation of all earlier features, a 1×1×1 convolution fuses them, and a local skip adds the
block input; a global 1×1×1 fusion of all block outputs follows. Everything runs on the LR grid;
a 3D per-axis pixel shuffle makes the output, e.g. through-plane only with ``(1, 1, 4)``,
plus a trilinear skip. Replicate padding keeps constant volumes constant.

Example:
    >>> import torch
    >>> net = RDN3D(in_channels=1, factors=(1, 1, 4), width=8, growth=4, blocks=1, layers=2)
    >>> net(torch.zeros(1, 1, 6, 5, 3)).shape
    torch.Size([1, 1, 6, 5, 12])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from medsr.models.layers import SubpixelConv, SubpixelSkip, conv
from medsr.models.shuffle import pixel_shuffle_nd


class _DenseBlock(nn.Module):
    def __init__(self, dims: int, width: int, growth: int, layers: int, padding: str) -> None:
        super().__init__()
        self.convs = nn.ModuleList(conv(dims, width + i * growth, growth, 3, padding=padding) for i in range(layers))
        self.act = nn.ReLU(inplace=True)
        self.fuse = conv(dims, width + layers * growth, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for c in self.convs:
            feats.append(self.act(c(torch.cat(feats, 1))))
        return x + self.fuse(torch.cat(feats, 1))


class RDN3D(nn.Module):
    """Residual dense network on the LR grid; 3D (or 2D) by ``len(factors)``.

    Args:
        in_channels: 1 or 3; out = in.
        factors: per-axis integer factors, e.g. ``(1, 1, 4)`` or ``(2, 2, 2)``.
        width: channels between blocks; growth: channels added per dense layer.
        blocks: residual dense blocks; layers: convolutions per block.
        skip: ``"linear"`` or ``"nearest"`` global interpolation skip.
        padding: ``"replicate"`` or ``"zeros"``.

    Input ``(N, C, D, H, W)`` → ``(N, C, D·f1, H·f2, W·f3)``; :attr:`halo` in LR voxels.
    """

    def __init__(
        self,
        in_channels: int = 1,
        factors: Sequence[int] = (1, 1, 2),
        *,
        width: int = 24,
        growth: int = 12,
        blocks: int = 3,
        layers: int = 3,
        skip: str = "linear",
        padding: str = "replicate",
    ) -> None:
        super().__init__()
        self.factors = tuple(int(f) for f in factors)
        dims = len(self.factors)
        if dims not in (2, 3) or min(width, growth, blocks, layers) < 1:
            raise ValueError(f"RDN3D needs 2 or 3 factors and positive sizes; got {self.factors}")
        self.config: dict[str, Any] = {
            "width": width,
            "growth": growth,
            "blocks": blocks,
            "layers": layers,
            "skip": skip,
            "padding": padding,
        }
        self.in_channels = int(in_channels)
        self.sfe1 = conv(dims, in_channels, width, 3, padding=padding)
        self.sfe2 = conv(dims, width, width, 3, padding=padding)
        self.blocks = nn.ModuleList(_DenseBlock(dims, width, growth, layers, padding) for _ in range(blocks))
        self.gff = nn.Sequential(conv(dims, blocks * width, width, 1), conv(dims, width, width, 3, padding=padding))
        self.tail = SubpixelConv(dims, width, in_channels, self.factors, 3, padding=padding)
        with torch.no_grad():
            self.tail.weight.mul_(0.1)
        self.skip = SubpixelSkip(in_channels, self.factors, skip, pad=True)
        self.halo = max(2 + blocks * layers + 1 + 1, self.skip.halo)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1 = self.sfe1(x)
        h = self.sfe2(f1)
        outs = []
        for b in self.blocks:
            h = b(h)
            outs.append(h)
        h = self.gff(torch.cat(outs, 1)) + f1
        y = self.tail(h) + self.skip(x)
        return pixel_shuffle_nd(y, self.factors)
