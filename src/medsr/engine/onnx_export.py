"""Export a medsr model (or bundle) to ONNX with dynamic batch and spatial axes.

The graph has one input ``lr`` of shape ``(N, C, *S)`` and one output ``sr`` of shape
``(N, C, *(S·f))``; N and every spatial size are dynamic, so the same file serves any tile.
The TorchScript-based exporter is used (it needs no extra packages); the pixel shuffle is
written with ``unflatten``/``flatten`` so its reshapes stay size-agnostic.

Example:
    >>> from medsr.models.registry import build                       # doctest: +SKIP
    >>> export_onnx(build("fast", factors=(2, 2)), "fast_x2.onnx")    # doctest: +SKIP
    PosixPath('fast_x2.onnx')
"""

from __future__ import annotations

import copy
import io
import os
import warnings
from pathlib import Path
from typing import Any

from medsr.errors import ConfigError, OutputError

INPUT_NAME, OUTPUT_NAME = "lr", "sr"


def _model_facts(obj: Any, channels: int | None, spatial_dims: int | None) -> tuple[Any, int, int]:
    model = getattr(obj, "model", obj)  # a Bundle or a module
    meta = getattr(obj, "meta", None)
    ch = channels or (meta.channels if meta is not None else getattr(model, "in_channels", None))
    nd = spatial_dims or (len(meta.factors) if meta is not None else len(getattr(model, "factors", ())) or None)
    if ch is None or nd not in (2, 3):
        raise ConfigError(
            None,
            "cannot tell the model's channels and spatial dimensions",
            "pass channels= and spatial_dims= to export_onnx",
        )
    return model, int(ch), int(nd)


def onnx_bytes(
    model_or_bundle: Any,
    *,
    opset: int = 17,
    channels: int | None = None,
    spatial_dims: int | None = None,
    zero_padding: bool = False,
) -> bytes:
    """The ONNX model as bytes (see :func:`export_onnx`)."""
    import torch

    from medsr.engine.torch_backend import bake_tied_weights, use_zero_padding

    model, ch, nd = _model_facts(model_or_bundle, channels, spatial_dims)
    m = copy.deepcopy(model).float().eval().cpu()
    if zero_padding:
        use_zero_padding(m)
    bake_tied_weights(m)
    halo = int(getattr(m, "halo", 4))
    size = max(8, 2 * halo + 4)
    example = torch.zeros((1, ch) + (size,) * nd)
    names = {0: "batch", **{2 + a: f"s{a}" for a in range(nd)}}
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(
                m,
                (example,),
                buf,  # type: ignore[arg-type]  # a file object is accepted
                opset_version=int(opset),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                do_constant_folding=True,
                dynamo=False,
                dynamic_axes={INPUT_NAME: names, OUTPUT_NAME: names},
            )
    return buf.getvalue()


def export_onnx(
    bundle_or_model: Any,
    path: str | os.PathLike[str],
    opset: int = 17,
    *,
    channels: int | None = None,
    spatial_dims: int | None = None,
    zero_padding: bool = False,
) -> Path:
    """Write ``bundle_or_model`` as ONNX to ``path``.

    Args:
        bundle_or_model: a :class:`~medsr.models.bundle.Bundle` or a ``torch.nn.Module`` with
            ``in_channels`` and ``factors`` attributes (else pass ``channels``/``spatial_dims``).
        path: output ``.onnx`` file.
        opset: ONNX opset (17 by default).
        zero_padding: replace replicate padding by zeros (faster; exact only inside a halo ≥
            the receptive field, as :func:`medsr.engine.runner.run_tiled` provides).
    """
    from medsr.io.atomic import atomic_write

    p = Path(path)
    if not p.parent.is_dir():
        raise OutputError(p, "output folder does not exist", "create it first")
    data = onnx_bytes(
        bundle_or_model, opset=opset, channels=channels, spatial_dims=spatial_dims, zero_padding=zero_padding
    )
    atomic_write(p, data, overwrite=True)
    return p
