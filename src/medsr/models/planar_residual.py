"""A compact 2D residual CNN for through-plane super-resolution of pre-interpolated planes.

Input and output are ``(N, 1, H, W)`` planes whose axis H was acquired thick and has been
interpolated onto the fine grid (cubic B-spline); the network predicts the missing detail as a
residual added to its input. A pixel-unshuffle by ``shuffle`` (space to depth, as in FFDNet:
Zhang et al., IEEE TIP 2018) lets the convolutions run at a coarser grid, which doubles the
receptive field for the same cost per pixel. The body is a plain stack of 3×3 convolutions with
ReLU (VDSR-like: Kim et al., CVPR 2016) grouped into residual blocks (EDSR-like: Lim et al.,
CVPRW 2017). It holds no intensity constants: inputs are normalised by the caller.

Example:
    >>> import torch
    >>> net = PlanarResidualNet(channels=16, blocks=2)
    >>> net(torch.zeros(2, 1, 30, 21)).shape
    torch.Size([2, 1, 30, 21])
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


class _ResBlock(nn.Module):
    def __init__(self, channels: int, scale: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.scale * self.conv2(F.relu(self.conv1(x)))


class PlanarResidualNet(nn.Module):
    """Residual plane-to-plane network: ``y = x + body(x)``.

    Args:
        channels: feature channels of the body.
        blocks: residual blocks (two 3×3 convolutions each).
        shuffle: pixel-unshuffle factor (1 = none, 2 = run the body at half resolution).
        res_scale: scale of each block's branch (stabilises training from scratch).

    The receptive field is ``(4 * blocks + 3) * shuffle`` pixels wide; :attr:`halo` is the
    margin a tile needs so that tiled and untiled outputs agree.
    """

    def __init__(self, channels: int = 32, blocks: int = 6, shuffle: int = 2, res_scale: float = 0.5) -> None:
        super().__init__()
        self.config: dict[str, Any] = {
            "channels": channels,
            "blocks": blocks,
            "shuffle": shuffle,
            "res_scale": res_scale,
        }
        self.shuffle = int(shuffle)
        c_in = self.shuffle**2
        self.head = nn.Conv2d(c_in, channels, 3, padding=1)
        self.body = nn.Sequential(*[_ResBlock(channels, res_scale) for _ in range(blocks)])
        self.tail = nn.Conv2d(channels, c_in, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        if self.tail.bias is not None:
            nn.init.zeros_(self.tail.bias)

    @property
    def halo(self) -> int:
        """Pixels of context needed on each side of a tile (receptive-field radius, rounded up)."""
        return int((2 * len(self.body) + 2) * self.shuffle + self.shuffle)

    def flops_per_pixel(self) -> float:
        """Multiply-adds ×2 per output pixel of one forward pass."""
        c, s2 = self.config["channels"], self.shuffle**2
        macs = 9 * (s2 * c + 2 * len(self.body) * c * c + c * s2) / s2
        return 2.0 * macs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.shuffle
        h, w = x.shape[-2:]
        ph, pw = (-h) % s, (-w) % s
        xp = F.pad(x, (0, pw, 0, ph), mode="replicate") if (ph or pw) else x
        z = F.pixel_unshuffle(xp, s) if s > 1 else xp
        z = self.tail(self.body(self.head(z)))
        z = F.pixel_shuffle(z, s) if s > 1 else z
        return x + z[..., :h, :w]
