"""Device, thread and dtype policy for inference (torch imported lazily).

Models are moved to a device by the caller (``model.to(resolve_device("auto"))``), never in
their constructors.

Example:
    >>> str(resolve_device("cpu"))
    'cpu'
    >>> with autocast_context("cpu", "float32"):
    ...     pass
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from medsr.errors import ConfigError

log = logging.getLogger(__name__)
from medsr.vocabulary import PRECISIONS as DTYPES  # noqa: E402 - the one precision vocabulary


def resolve_device(device: str | Any = "auto") -> Any:
    """``"auto"`` → CUDA when available, else CPU; ``"cpu"``/``"cuda[:i]"`` are checked."""
    import torch

    if isinstance(device, torch.device):
        return device
    name = str(device).lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                None, f"device {device!r} requested but CUDA is not available", "use --device cpu or auto"
            )
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ConfigError(None, f"unknown device {device!r}", "use auto, cpu or cuda")


def set_threads(n: int | None) -> int:
    """Set torch's intra-op threads (``None`` or ≤ 0 leaves the default); returns the count used."""
    import torch

    if n is not None and int(n) > 0:
        torch.set_num_threads(int(n))
    return int(torch.get_num_threads())


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (``None``: as they are), then restore them."""
    import torch

    old = torch.get_num_threads()
    set_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def bf16_supported(device: str | Any = "cpu") -> bool:
    """True when bfloat16 compute is native: CPU with AVX-512 BF16 or AMX, or CUDA capability ≥ 8."""
    import torch

    dev = resolve_device(device)
    if dev.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if not torch.backends.mkldnn.is_available():
        return False
    flags = _cpu_flags()
    if flags:
        return bool({"avx512_bf16", "amx_bf16"} & flags)
    checker = getattr(getattr(torch.ops, "mkldnn", None), "_is_mkldnn_bf16_supported", None)
    try:
        return bool(checker()) if checker is not None else False
    except RuntimeError:
        return False


def check_dtype(dtype: str, device: str | Any = "cpu") -> str:
    """Validate ``dtype``; ``bfloat16`` without native support falls back to float32 (logged)."""
    if dtype not in DTYPES:
        raise ConfigError(None, f"unknown compute dtype {dtype!r}", f"use one of {', '.join(DTYPES)}")
    if dtype == "bfloat16" and not bf16_supported(device):
        log.warning("bfloat16 is not native on %s; computing in float32", device)
        return "float32"
    return dtype


@contextlib.contextmanager
def autocast_context(device: str | Any, dtype: str) -> Iterator[None]:
    """``torch.autocast`` to bfloat16 on ``device`` when ``dtype == "bfloat16"``, else a no-op."""
    import torch

    dev = resolve_device(device)
    if dtype == "bfloat16":
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16):
            yield
    else:
        yield
