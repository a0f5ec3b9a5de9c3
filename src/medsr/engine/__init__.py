"""medsr.engine: tiling, blending, streaming output, device/dtype policy and ``predict``.

Names resolve lazily, so ``import medsr.engine`` loads neither torch nor onnxruntime.
``predict`` lives in :mod:`medsr.engine.predict` (also ``medsr.predict``); it is not re-exported
here because the submodule of the same name would shadow it.
"""

from __future__ import annotations

from medsr._lazy import lazy_exports

_LAZY = {
    "plan_tiles": "medsr.engine.tiling:plan_tiles",
    "TilePlan": "medsr.engine.tiling:TilePlan",
    "Block": "medsr.engine.tiling:Block",
    "block_weight": "medsr.engine.blending:block_weight",
    "Stitcher": "medsr.engine.stitch:Stitcher",
    "run_tiled": "medsr.engine.runner:run_tiled",
    "nearest_upsample": "medsr.engine.runner:nearest_upsample",
    "plan_layout": "medsr.engine.layout:plan_layout",
    "Layout": "medsr.engine.layout:Layout",
    "resolve_device": "medsr.engine.device:resolve_device",
    "set_threads": "medsr.engine.device:set_threads",
    "bf16_supported": "medsr.engine.device:bf16_supported",
    "autocast_context": "medsr.engine.device:autocast_context",
    "prepare_model": "medsr.engine.torch_backend:prepare_model",
    "TorchBlockFn": "medsr.engine.torch_backend:TorchBlockFn",
    "OnnxBlockFn": "medsr.engine.onnx_backend:OnnxBlockFn",
    "export_onnx": "medsr.engine.onnx_export:export_onnx",
    "quantize_onnx": "medsr.engine.quantize:quantize_onnx",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
