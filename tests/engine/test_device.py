"""Device, threads and dtype policy."""

from __future__ import annotations

import pytest
import torch

from medsr.engine import device as dev
from medsr.errors import ConfigError


def test_resolve_device() -> None:
    assert str(dev.resolve_device("cpu")) == "cpu"
    assert dev.resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ConfigError):
        dev.resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA"):
            dev.resolve_device("cuda")


def test_set_threads_round_trip() -> None:
    before = torch.get_num_threads()
    try:
        assert dev.set_threads(1) == 1
        assert dev.set_threads(None) == 1
    finally:
        torch.set_num_threads(before)


def test_bf16_detection_matches_cpu_flags() -> None:
    flags = dev._cpu_flags()
    if flags:
        assert dev.bf16_supported("cpu") == bool({"avx512_bf16", "amx_bf16"} & flags)


def test_autocast_and_dtype_check() -> None:
    a, b = torch.rand(4, 4), torch.rand(4, 4)
    with dev.autocast_context("cpu", "bfloat16"):
        assert (a @ b).dtype == torch.bfloat16
    with dev.autocast_context("cpu", "float32"):
        assert (a @ b).dtype == torch.float32
    with pytest.raises(ConfigError):
        dev.check_dtype("float16")
    expected = "bfloat16" if dev.bf16_supported("cpu") else "float32"
    assert dev.check_dtype("bfloat16", "cpu") == expected
