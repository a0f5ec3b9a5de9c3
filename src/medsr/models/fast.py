"""``fast``: a tiny CNN on the low-resolution grid, for CPU throughput.

ESPCN-like (Shi et al., CVPR 2016; FSRCNN, Dong et al., ECCV 2016): all convolutions run on
the LR grid, the last one produces ``C·∏f`` sub-pixel channels and a per-axis pixel shuffle
makes the HR image. A linear (or nearest) interpolation of the input, computed on the LR grid
as a fixed depthwise convolution, is added before the shuffle, so the network learns only the
residual. The input is replicate-padded once by the receptive-field radius and every
convolution is "valid": one padding copy instead of one per layer, and a constant image maps to
a constant output. Inputs are normalised by the caller (no intensity constants here).

Example:
    >>> import torch
    >>> net = FastSR(in_channels=1, factors=(1, 4))
    >>> net(torch.zeros(2, 1, 10, 7)).shape
    torch.Size([2, 1, 10, 28])
    >>> net3 = FastSR(in_channels=1, factors=(1, 1, 4), width=8)
    >>> net3(torch.zeros(1, 1, 5, 6, 3)).shape
    torch.Size([1, 1, 5, 6, 12])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from medsr.models.layers import SubpixelConv, SubpixelSkip, conv, pad_same
from medsr.models.shuffle import pixel_shuffle_nd


class FastSR(nn.Module):
    """LR-grid CNN + per-axis pixel shuffle + interpolation skip; 2D or 3D by ``len(factors)``.

    Args:
        in_channels: 1 (grey) or 3 (RGB); the output has the same channels.
        factors: per-axis integer factors, e.g. ``(2, 2)``, ``(1, 4)`` or ``(1, 1, 4)``.
        width: feature channels.
        depth: 3×3 convolutions before the sub-pixel convolution (≥ 1).
        skip: ``"linear"`` or ``"nearest"`` interpolation for the global skip.

    Input ``(N, C, *S)`` → output ``(N, C, *(S·f))``. :attr:`halo` (LR voxels) is the
    receptive-field radius, the context a tile needs for exact tiling.
    """

    def __init__(
        self,
        in_channels: int = 1,
        factors: Sequence[int] = (2, 2),
        *,
        width: int = 16,
        depth: int = 3,
        skip: str = "linear",
    ) -> None:
        super().__init__()
        self.factors = tuple(int(f) for f in factors)
        dims = len(self.factors)
        if dims not in (2, 3) or depth < 1 or width < 1:
            raise ValueError(
                f"FastSR needs 2 or 3 factors, depth >= 1, width >= 1; got {self.factors}, {depth}, {width}"
            )
        self.config: dict[str, Any] = {"width": width, "depth": depth, "skip": skip}
        self.in_channels = int(in_channels)
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [conv(dims, in_channels if i == 0 else width, width, 3, padding="valid"), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.tail = SubpixelConv(dims, width, in_channels, self.factors, 3, padding="valid")
        with torch.no_grad():  # start close to the interpolation: a small residual
            self.tail.weight.mul_(0.1)
        self.skip = SubpixelSkip(in_channels, self.factors, skip, pad=False)
        self.rf = depth + 1
        self.halo = max(self.rf, self.skip.halo)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp = pad_same(x, self.rf, "replicate")
        y = self.tail(self.body(xp))
        if self.skip.halo:
            c = self.rf - self.skip.halo
            xs = xp[(...,) + (slice(c, -c),) * (xp.dim() - 2)] if c else xp
            y = y + self.skip(xs)
        else:
            y = y + self.skip(x)
        return pixel_shuffle_nd(y, self.factors)
