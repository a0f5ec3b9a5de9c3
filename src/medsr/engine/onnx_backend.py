"""Run an ONNX model with onnxruntime as the block function of ``run_tiled``.

The model takes ``(N, C, *S)`` float32 and returns ``(N, C, *(S·f))`` (as written by
:func:`medsr.engine.onnx_export.export_onnx`, or an int8 model from
:func:`medsr.engine.quantize.quantize_onnx`). onnxruntime is imported lazily.

Example:
    >>> from medsr.engine.onnx_export import onnx_bytes                      # doctest: +SKIP
    >>> fn = OnnxBlockFn(onnx_bytes(net, channels=1, spatial_dims=2), layout=lay)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from medsr.engine.layout import Layout, from_batch, to_batch
from medsr.errors import ConfigError


def make_session(model: bytes | str | os.PathLike[str], threads: int | None = None) -> Any:
    """An onnxruntime CPU session with ``threads`` intra-op threads (default: torch's count or 2)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ConfigError(
            None, "onnxruntime is not installed", "pip install 'medsr[onnx]' or use --backend torch"
        ) from None
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads) if threads else _default_threads()
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    src = model if isinstance(model, bytes) else str(Path(model))
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


def _default_threads() -> int:
    try:
        import torch

        return int(torch.get_num_threads())
    except ImportError:
        return max(1, min(2, os.cpu_count() or 1))


class OnnxBlockFn:
    """``fn(block (C, X, Y, Z)) -> (C, X·fx, Y·fy, Z·fz)`` through onnxruntime."""

    def __init__(self, model: bytes | str | os.PathLike[str], *, layout: Layout, threads: int | None = None) -> None:
        self.session = make_session(model, threads)
        self.input_name = self.session.get_inputs()[0].name
        self.layout = layout

    def __call__(self, block: np.ndarray) -> np.ndarray:
        x = to_batch(block, self.layout)
        (y,) = self.session.run(None, {self.input_name: x})
        return from_batch(np.asarray(y, dtype=np.float32), self.layout)
