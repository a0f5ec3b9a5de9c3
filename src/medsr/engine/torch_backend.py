"""Run a torch model as the block function of :func:`medsr.engine.runner.run_tiled`.

:func:`prepare_model` makes an inference copy (eval, device, channels-last memory format, and
optionally zero instead of replicate padding — exact whenever the tiling halo covers the
receptive field, and it saves one padding copy per convolution); :class:`TorchBlockFn` turns a
``(C, X, Y, Z)`` numpy block into a batch (:mod:`medsr.engine.layout`), runs the model under
``torch.inference_mode`` and optional bfloat16 autocast, and returns a float32 numpy block.

Example:
    >>> from medsr.models.registry import build
    >>> from medsr.engine.layout import plan_layout
    >>> lay = plan_layout((8, 8, 1), (1, 1, 1), True, 2, (2, 2))
    >>> fn = TorchBlockFn(prepare_model(build("fast", factors=(2, 2))), layout=lay)
    >>> fn(np.zeros((1, 8, 8, 1), np.float32)).shape
    (1, 16, 16, 1)
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from medsr.engine.device import autocast_context, resolve_device
from medsr.engine.layout import Layout, from_batch, to_batch


def use_zero_padding(model: Any) -> int:
    """Switch replicate/reflect padding of the model's convolutions to zeros; returns how many.

    Only the border of each network input changes, so outputs cropped by a halo ≥ the
    receptive-field radius are identical.
    """
    from torch import nn

    from medsr.models.layers import SubpixelConv

    n = 0
    for m in model.modules():
        if isinstance(m, nn.modules.conv._ConvNd) and m.padding_mode != "zeros":
            m.padding_mode = "zeros"
            n += 1
        elif isinstance(m, SubpixelConv) and m.padding in ("replicate", "reflect"):
            m.padding = "zeros"
            n += 1
    return n


def bake_tied_weights(model: Any) -> Any:
    """Replace every :class:`~medsr.models.layers.SubpixelConv` by an equivalent plain conv
    (in place); saves recomputing the tied weights on every call and simplifies ONNX graphs."""
    from medsr.models.layers import SubpixelConv

    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, SubpixelConv):
                setattr(parent, name, child.to_conv())
    return model


def prepare_model(
    model: Any, *, device: str | Any = "cpu", channels_last: bool = True, zero_padding: bool = False
) -> Any:
    """A deep copy of ``model`` ready for inference on ``device`` (the original is untouched)."""
    dev = resolve_device(device)
    m = copy.deepcopy(model).eval().to(dev)
    for p in m.parameters():
        p.requires_grad_(False)
    if zero_padding:
        use_zero_padding(m)
    bake_tied_weights(m)
    if channels_last:
        m = m.to(memory_format=_memory_format(m))
    m._medsr_channels_last = bool(channels_last)  # noqa: SLF001 - a private tag for TorchBlockFn
    return m


def _memory_format(model: Any) -> Any:
    import torch
    from torch import nn

    is3d = any(isinstance(m, nn.Conv3d) for m in model.modules())
    return torch.channels_last_3d if is3d else torch.channels_last


class TorchBlockFn:
    """``fn(block (C, X, Y, Z)) -> (C, X·fx, Y·fy, Z·fz)`` through a torch model.

    Args:
        model: a module from :func:`prepare_model` (already on ``device``).
        layout: how image axes map to the network (:func:`medsr.engine.layout.plan_layout`).
        device: where the model lives.
        dtype: ``"float32"`` or ``"bfloat16"`` (autocast).
    """

    def __init__(self, model: Any, *, layout: Layout, device: str | Any = "cpu", dtype: str = "float32") -> None:
        self.model = model
        self.layout = layout
        self.device = resolve_device(device)
        self.dtype = dtype
        self.channels_last = bool(getattr(model, "_medsr_channels_last", False))

    def __call__(self, block: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(to_batch(block, self.layout)).to(self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last if x.dim() == 4 else torch.channels_last_3d)
        with torch.inference_mode(), autocast_context(self.device, self.dtype):
            y = self.model(x)
        y = y.float().cpu().numpy()
        return from_batch(y, self.layout)
