"""Pixel shuffle with a separate integer factor per spatial axis, for 2D and 3D.

``pixel_shuffle_nd`` turns ``(N, C·∏f, S1, …, Sd)`` into ``(N, C, S1·f1, …, Sd·fd)``: output
voxel ``(s_a·f_a + r_a)_a`` of channel ``c`` comes from input channel ``c·∏f + flat(r)``
(``r`` flattened in C order) at position ``s``. With equal 2D factors this is exactly
``torch.nn.PixelShuffle`` (Shi et al., ESPCN, CVPR 2016); with ``(1, 4)`` or ``(1, 1, 5)`` it
upsamples only through-plane. LR voxel ``s`` becomes the block of HR voxels
``s·f … s·f + f - 1``, whose centre is the LR voxel's centre: exactly the field-of-view
preserving grid of :func:`medsr.geometry.upsample_grid`.

The reshapes use ``unflatten``/``flatten`` only, so ONNX export keeps spatial sizes dynamic.

Example:
    >>> import torch
    >>> x = torch.arange(8.0).reshape(1, 4, 1, 2)
    >>> pixel_shuffle_nd(x, (1, 4)).shape
    torch.Size([1, 1, 1, 8])
    >>> pixel_shuffle_nd(x, (1, 4))[0, 0, 0].tolist()
    [0.0, 2.0, 4.0, 6.0, 1.0, 3.0, 5.0, 7.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

import torch
from torch import nn


def _check(x: torch.Tensor, factors: Sequence[int], channels_div: bool) -> tuple[int, ...]:
    fac = tuple(int(f) for f in factors)
    if x.dim() != 2 + len(fac):
        raise ValueError(f"expected a {2 + len(fac)}-D tensor for factors {fac}, got shape {tuple(x.shape)}")
    if any(f < 1 for f in fac):
        raise ValueError(f"factors {fac} must be integers >= 1")
    if channels_div and not torch.jit.is_tracing() and x.shape[1] % prod(fac):
        raise ValueError(f"{x.shape[1]} channels are not divisible by prod{fac} = {prod(fac)}")
    return fac


def pixel_shuffle_nd(x: torch.Tensor, factors: Sequence[int]) -> torch.Tensor:
    """``(N, C·∏f, *S)`` → ``(N, C, *(S·f))`` with per-axis integer ``factors``."""
    fac = _check(x, factors, True)
    d = len(fac)
    if all(f == 1 for f in fac):
        return x
    y = x.unflatten(1, (-1, *fac))  # (N, C, f1..fd, S1..Sd)
    perm = [0, 1]
    for a in range(d):
        perm += [2 + d + a, 2 + a]  # (S_a, f_a) pairs
    y = y.permute(perm)
    for a in range(d):
        y = y.flatten(2 + a, 3 + a)
    return y


def pixel_unshuffle_nd(x: torch.Tensor, factors: Sequence[int]) -> torch.Tensor:
    """The inverse: ``(N, C, *(S·f))`` → ``(N, C·∏f, *S)``; sizes must divide by the factors."""
    fac = _check(x, factors, False)
    d = len(fac)
    if all(f == 1 for f in fac):
        return x
    sizes = x.shape[2:]
    if any(int(s) % f for s, f in zip(sizes, fac, strict=False)):
        raise ValueError(f"spatial size {tuple(sizes)} is not divisible by factors {fac}")
    y = x
    for a in range(d):
        y = y.unflatten(2 + 2 * a, (-1, fac[a]))  # (N, C, S1, f1, S2, f2, ...)
    perm = [0, 1] + [3 + 2 * a for a in range(d)] + [2 + 2 * a for a in range(d)]
    return y.permute(perm).flatten(1, 1 + d)


class PixelShuffleND(nn.Module):
    """Module form of :func:`pixel_shuffle_nd` (2D or 3D by the length of ``factors``)."""

    def __init__(self, factors: Sequence[int]) -> None:
        super().__init__()
        self.factors = tuple(int(f) for f in factors)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pixel_shuffle_nd(x, self.factors)

    def extra_repr(self) -> str:
        return f"factors={self.factors}"
