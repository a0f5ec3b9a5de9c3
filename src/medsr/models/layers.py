"""Building blocks shared by the medsr architectures (2D and 3D by the length of ``factors``).

* :func:`conv` — a 2D/3D convolution; ``padding_mode="replicate"`` keeps a constant image
  constant up to the border.
* :class:`SubpixelSkip` — the global skip connection, computed on the LR grid: nearest
  (repeat) or linear interpolation by integer per-axis factors written as a fixed depthwise
  convolution to ``C·∏f`` channels; after :func:`~medsr.models.shuffle.pixel_shuffle_nd` it
  equals ``F.interpolate(..., mode="(bi/tri)linear", align_corners=False)`` with edge clamping.
* :class:`SubpixelConv` — the last convolution before the shuffle, re-parametrised so that the
  ``∏f`` sub-pixel outputs of one channel share their bias and the spatial sum of their
  kernels: a locally constant feature map then gives the same value at every sub-pixel,
  so the network cannot paint a checkerboard on flat regions (compare ICNR, Aitken et al.,
  arXiv:1707.02937, which only constrains the initialisation).
* :class:`LocalChannelAttention` — RCAN's squeeze-and-excitation (Zhang et al., ECCV 2018)
  with the global pooling replaced by a local box mean, so the receptive field stays finite
  and tiled inference is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

import torch
from torch import nn
from torch.nn import functional as F


def conv(dims: int, c_in: int, c_out: int, k: int = 3, *, padding: str = "replicate", bias: bool = True) -> nn.Module:
    """A ``k``-wide 2D or 3D convolution; ``padding="valid"`` for none, else a padding mode."""
    cls = nn.Conv2d if dims == 2 else nn.Conv3d
    if padding == "valid" or k == 1:
        return cls(c_in, c_out, k, bias=bias)
    return cls(c_in, c_out, k, padding=k // 2, padding_mode=padding, bias=bias)  # type: ignore[arg-type]


def pad_same(x: torch.Tensor, width: int, mode: str = "replicate") -> torch.Tensor:
    """Pad every spatial axis of ``(N, C, *S)`` by ``width`` on both sides."""
    if width <= 0:
        return x
    return F.pad(x, (width, width) * (x.dim() - 2), mode="constant" if mode == "zeros" else mode)


def _linear_taps(f: int) -> torch.Tensor:
    """(f, 3) weights on LR neighbours (-1, 0, +1) of HR sub-positions r = 0 … f-1."""
    taps = torch.zeros(f, 3, dtype=torch.float64)
    for r in range(f):
        u = (r + 0.5) / f - 0.5  # HR sample position in LR units, relative to the LR centre
        if u >= 0:
            taps[r, 1], taps[r, 2] = 1 - u, u
        else:
            taps[r, 0], taps[r, 1] = -u, 1 + u
    return taps


class SubpixelSkip(nn.Module):
    """Interpolation by per-axis integer ``factors`` expressed on the LR grid.

    Input ``(N, C, *S)`` → ``(N, C·∏f, *S)``; follow with ``pixel_shuffle_nd``. ``mode`` is
    ``"nearest"`` (repeat) or ``"linear"``. With ``pad=False`` the input must already carry one
    voxel of context on each side of every upsampled axis (``"linear"``).
    """

    def __init__(self, channels: int, factors: Sequence[int], mode: str = "linear", pad: bool = True) -> None:
        super().__init__()
        if mode not in ("nearest", "linear"):
            raise ValueError(f"skip mode {mode!r} must be 'nearest' or 'linear'")
        self.factors = tuple(int(f) for f in factors)
        self.channels, self.mode, self.pad = int(channels), mode, pad
        self.dims = len(self.factors)
        self.halo = 1 if mode == "linear" and any(f > 1 for f in self.factors) else 0
        if self.halo:
            self.register_buffer("weight", self._kernel(), persistent=False)

    def _kernel(self) -> torch.Tensor:
        d = self.dims
        taps = [_linear_taps(f) for f in self.factors]  # per axis (f_a, 3)
        spec = ",".join(f"{'abc'[a]}{'xyz'[a]}" for a in range(d)) + f"->{'abc'[:d]}{'xyz'[:d]}"
        w = torch.einsum(spec, *taps).reshape(prod(self.factors), *([3] * d)).float()
        return w.repeat(self.channels, *([1] * d)).unsqueeze(1)  # (C·R, 1, 3, …)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = prod(self.factors)
        if r == 1:
            return x
        if not self.halo:
            return x.unsqueeze(2).expand(-1, -1, r, *x.shape[2:]).flatten(1, 2)
        if self.pad:
            x = pad_same(x, 1)
        op = F.conv2d if self.dims == 2 else F.conv3d
        weight: torch.Tensor = self.weight  # type: ignore[assignment]
        return op(x, weight.to(x.dtype), groups=self.channels)


class SubpixelConv(nn.Module):
    """The conv feeding a pixel shuffle, with sub-pixel outputs tied on flat inputs.

    Maps ``(N, F, *S)`` → ``(N, C·∏f, *S')`` with a ``k``-wide kernel. Within each output
    channel ``c`` the ``∏f`` sub-pixel kernels are shifted so their spatial sums agree and
    share one bias; the freedom lost is ``F·(∏f - 1)`` of ``F·∏f·k^d`` weights.
    """

    def __init__(
        self, dims: int, c_feat: int, c_out: int, factors: Sequence[int], k: int = 3, padding: str = "replicate"
    ) -> None:
        super().__init__()
        self.dims, self.c_out, self.k, self.padding = dims, int(c_out), int(k), padding
        self.r = prod(int(f) for f in factors)
        shape = (self.c_out * self.r, c_feat) + (k,) * dims
        ref = conv(dims, c_feat, self.c_out * self.r, k, padding="valid")
        self.weight = nn.Parameter(ref.weight.detach().clone().reshape(shape))  # type: ignore[operator]
        self.bias = nn.Parameter(torch.zeros(self.c_out))

    def tied_weight(self) -> torch.Tensor:
        k_vol = self.k**self.dims
        w = self.weight.unflatten(0, (self.c_out, self.r))  # (C, R, F, k…)
        axes = tuple(range(3, 3 + self.dims))
        s = w.sum(dim=axes, keepdim=True)
        w = w - (s - s.mean(dim=1, keepdim=True)) / k_vol
        return w.flatten(0, 1)

    def to_conv(self) -> nn.Module:
        """An equivalent plain convolution with the tied weights baked in (for inference/export)."""
        c = conv(self.dims, self.weight.shape[1], self.c_out * self.r, self.k, padding=self.padding)
        with torch.no_grad():
            c.weight.copy_(self.tied_weight())  # type: ignore[operator]
            c.bias.copy_(self.bias.repeat_interleave(self.r))  # type: ignore[operator]
        return c.to(self.weight.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        native = 0
        if self.padding == "zeros":
            native = self.k // 2
        elif self.padding != "valid":
            x = pad_same(x, self.k // 2, self.padding)
        op = F.conv2d if self.dims == 2 else F.conv3d
        bias = self.bias.repeat_interleave(self.r)
        return op(x, self.tied_weight(), bias, padding=native)


class LocalChannelAttention(nn.Module):
    """Squeeze-and-excitation over a ``window``-wide local box mean (finite receptive field).

    ``(N, C, *S)`` → same shape: ``x · sigmoid(W2 relu(W1 boxmean(x)))``. The box mean
    ignores padding at the borders, so a constant map stays constant.
    """

    def __init__(self, dims: int, channels: int, reduction: int = 16, window: int = 7) -> None:
        super().__init__()
        self.dims, self.window = dims, int(window)
        hidden = max(4, channels // reduction)
        self.down = conv(dims, channels, hidden, 1)
        self.up = conv(dims, hidden, channels, 1)
        self.halo = self.window // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pool = F.avg_pool2d if self.dims == 2 else F.avg_pool3d
        w, h = self.window, self.window // 2
        m = x
        for a in range(self.dims):  # separable box mean, one axis at a time
            k = [1] * self.dims
            p = [0] * self.dims
            k[a], p[a] = w, h
            m = pool(m, tuple(k), stride=1, padding=tuple(p), count_include_pad=False)
        return x * torch.sigmoid(self.up(F.relu(self.down(m))))
