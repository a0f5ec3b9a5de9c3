"""Int8 quantisation of an exported ONNX model with onnxruntime.quantization.

Static quantisation (QDQ format, per-channel int8 weights, uint8 activations calibrated by
min/max on a few representative network inputs) lets onnxruntime run ``QLinearConv`` with
VNNI instructions. Dynamic quantisation needs no calibration but only quantises weights of
MatMul/Conv through integer ops that are rarely faster for convolutions. Always measure the
PSNR cost against the float model (``benchmarks/predict.py`` does).

Example:
    >>> calib = [np.random.rand(1, 1, 64, 64).astype(np.float32) for _ in range(4)]  # doctest: +SKIP
    >>> quantize_onnx("fast_x2.onnx", "fast_x2.int8.onnx", calib)                     # doctest: +SKIP
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from medsr.errors import ConfigError


class _Reader:
    """onnxruntime CalibrationDataReader over a list of inputs."""

    def __init__(self, name: str, batches: Iterable[np.ndarray]) -> None:
        self._it = iter([{name: np.ascontiguousarray(b, dtype=np.float32)} for b in batches])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)


def quantize_onnx(
    src: str | os.PathLike[str] | bytes,
    dst: str | os.PathLike[str],
    calibration: Sequence[np.ndarray] | None = None,
    *,
    mode: str = "static",
    per_channel: bool = True,
) -> Path:
    """Write an int8 version of the ONNX model ``src`` to ``dst``.

    Args:
        src: ONNX file or bytes (float32 model from ``export_onnx``).
        dst: output file.
        calibration: network inputs ``(N, C, *S)`` for ``mode="static"`` (a handful of tiles).
        mode: ``"static"`` (QDQ, calibrated) or ``"dynamic"`` (weights only).
        per_channel: per-output-channel weight scales.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static

    out = Path(dst)
    with tempfile.TemporaryDirectory(prefix="medsr-q-") as tmp:
        src_path = Path(tmp) / "float.onnx"
        if isinstance(src, bytes):
            src_path.write_bytes(src)
        else:
            src_path.write_bytes(Path(src).read_bytes())
        prepped = _preprocess(src_path, Path(tmp) / "prep.onnx")
        if mode == "dynamic":
            quantize_dynamic(str(prepped), str(out), weight_type=QuantType.QInt8, per_channel=per_channel)
        elif mode == "static":
            if not calibration:
                raise ConfigError(
                    None,
                    "static int8 quantisation needs calibration inputs",
                    "pass a few representative tiles, or use mode='dynamic'",
                )
            name = _input_name(prepped)
            quantize_static(
                str(prepped),
                str(out),
                _Reader(name, calibration),
                quant_format=QuantFormat.QDQ,
                per_channel=per_channel,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
            )
        else:
            raise ConfigError(None, f"unknown quantisation mode {mode!r}", "use static or dynamic")
    return out


def _input_name(path: Path) -> str:
    import onnx

    return onnx.load(str(path), load_external_data=False).graph.input[0].name


def _preprocess(src: Path, dst: Path) -> Path:
    """onnxruntime's recommended pre-processing (shape inference, folding); the source if it fails."""
    try:
        from onnxruntime.quantization.shape_inference import quant_pre_process

        quant_pre_process(str(src), str(dst), skip_symbolic_shape=False)
        return dst
    except Exception:  # noqa: BLE001 - pre-processing is an optimisation only
        return src


def calibration_tiles(data: np.ndarray, crop: Sequence[int], n: int = 8, seed: int = 0) -> list[np.ndarray]:
    """``n`` random crops of spatial size ``crop`` (clipped to the array) of a ``(C, *S)`` array."""
    rng = np.random.default_rng(seed)
    tiles = []
    for _ in range(n):
        sl = []
        for s, c in zip(data.shape[1:], crop, strict=False):
            t = min(int(c), int(s))
            a = int(rng.integers(0, s - t + 1))
            sl.append(slice(a, a + t))
        tiles.append(np.ascontiguousarray(data[(slice(None),) + tuple(sl)], dtype=np.float32))
    return tiles
