"""What the rest of medsr may know about an architecture without importing it.

An :class:`ArchDescriptor` (in the spirit of spandrel's model descriptors) says which inputs a
network accepts — spatial dimensions, channels, per-axis integer scale factors, tile-size
multiple — how much context a tile needs for exact tiling (``halo``), and where the class lives
(``builder = "module:Class"``, imported only by :meth:`ArchDescriptor.load_class`).

Example:
    >>> d = ArchDescriptor(name="toy", summary="a toy", spatial_dims=2,
    ...                    builder="medsr.models.fast:FastSR")
    >>> d.check_factors((1, 4))
    (1, 4)
    >>> d.supports_factors((9, 9))
    False
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from medsr.errors import ConfigError
from medsr.vocabulary import PRECISIONS as DTYPES  # noqa: E402 - the one precision vocabulary

#: ranges of the architecture options a bundle may carry (``arch_kwargs``); a hostile bundle with
#: ``depth = 10**7`` would otherwise build ten million layers before anything could refuse it
KWARG_LIMITS: dict[str, tuple[float, float]] = {
    "width": (1, 512), "depth": (1, 64), "blocks": (1, 64), "groups": (1, 16), "layers": (1, 32),
    "growth": (1, 256), "channels": (1, 512), "reduction": (1, 512), "ca_window": (1, 63),
    "res_scale": (0.0, 10.0), "shuffle": (1, 8),
}  # fmt: skip
KWARG_CHOICES: dict[str, tuple[str, ...]] = {
    "skip": ("linear", "nearest"),
    "padding": ("replicate", "zeros", "reflect", "circular", "valid"),
}


def check_arch_kwargs(arch: str, kwargs: dict[str, Any], where: str | None = None) -> None:
    """Refuse architecture options outside :data:`KWARG_LIMITS` / :data:`KWARG_CHOICES`.

    Example:
        >>> check_arch_kwargs("fast", {"width": 16, "depth": 3})
        >>> try:
        ...     check_arch_kwargs("fast", {"depth": 10**7})
        ... except ConfigError as err:
        ...     print("refused")
        refused
    """
    for key, value in kwargs.items():
        if key in KWARG_CHOICES:
            if value not in KWARG_CHOICES[key]:
                raise ConfigError(
                    where, f"{arch} option {key}={value!r} is not one of {KWARG_CHOICES[key]}", "re-export"
                )
            continue
        if key not in KWARG_LIMITS:
            raise ConfigError(
                where, f"{arch} option {key!r} is not a known architecture option", "re-export the bundle"
            )
        lo, hi = KWARG_LIMITS[key]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and lo <= value <= hi
        if not ok or (isinstance(lo, int) and not isinstance(value, int)):
            raise ConfigError(where, f"{arch} option {key}={value!r} is outside {lo}..{hi}", "re-export the bundle")


_REFERENCE: dict[str, tuple[int, int]] = {}


def _reference(desc: ArchDescriptor) -> tuple[int, int]:
    """``(halo, parameters)`` of ``desc``'s default model, built on torch's meta device."""
    if desc.name not in _REFERENCE:
        import torch

        from medsr.models.registry import build

        factor = 2 if desc.input_grid == "lr" and 2 in desc.factor_values else 1
        with torch.device("meta"):
            net = build(desc.name, in_channels=desc.channels[0], factors=(factor,) * desc.spatial_dims)
        _REFERENCE[desc.name] = (int(getattr(net, "halo", 0)), int(sum(p.numel() for p in net.parameters())))
    return _REFERENCE[desc.name]


@dataclass(frozen=True)
class ArchDescriptor:
    """Static facts about one registered architecture.

    Attributes:
        name: registry key, e.g. ``"fast"``.
        summary: one line for ``medsr models`` listings.
        spatial_dims: 2 (planes ``(N, C, H, W)``) or 3 (volumes ``(N, C, D, H, W)``).
        builder: ``"module:Class"``; the class is imported on first :func:`build`.
        channels: supported channel counts (in = out), e.g. ``(1, 3)``.
        factor_values: integer scale factors allowed on each axis.
        through_plane_only: only the last spatial axis may have a factor above 1.
        input_grid: ``"lr"`` when the network upsamples itself (output = input × factors),
            ``"hr"`` when it takes an input already interpolated onto the output grid and
            returns the same size (factors are then all 1).
        size_multiple: every spatial input size must be a multiple of this (LR voxels).
        supports_tiling: outputs of overlapping tiles may be stitched.
        dtypes: compute dtypes the architecture tolerates (``float32``, ``bfloat16``).
        default_tile: LR tile edge (voxels) that suits this architecture on a CPU.
        reference: the paper(s) the design follows.
        defaults: constructor options this entry passes unless overridden (e.g. a narrower
            width for a 3D variant of a 2D class).
    """

    name: str
    summary: str
    spatial_dims: int
    builder: str
    channels: tuple[int, ...] = (1, 3)
    factor_values: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
    through_plane_only: bool = False
    input_grid: str = "lr"
    size_multiple: int = 1
    supports_tiling: bool = True
    dtypes: tuple[str, ...] = DTYPES
    default_tile: int = 128
    reference: str = ""
    defaults: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.spatial_dims not in (2, 3):
            raise ConfigError(None, f"architecture {self.name!r} has spatial_dims={self.spatial_dims}", "use 2 or 3")
        if ":" not in self.builder:
            raise ConfigError(
                None,
                f"architecture {self.name!r} builder {self.builder!r} is not 'module:Class'",
                "write the builder as 'package.module:ClassName'",
            )
        if self.input_grid not in ("lr", "hr"):
            raise ConfigError(
                None, f"architecture {self.name!r} input_grid {self.input_grid!r} is unknown", "use 'lr' or 'hr'"
            )
        bad = [d for d in self.dtypes if d not in DTYPES]
        if bad:
            raise ConfigError(
                None, f"architecture {self.name!r} lists unknown dtypes {bad}", f"use {', '.join(DTYPES)}"
            )

    # -- derived from the model itself (built once on the meta device: no memory, no weights) ----
    @property
    def halo(self) -> int:
        """Receptive-field radius in LR voxels of the default configuration (``model.halo``)."""
        return _reference(self)[0]

    @property
    def params(self) -> int:
        """Parameter count of the default configuration (grey, ×2 where factors apply)."""
        return _reference(self)[1]

    # -- checks ---------------------------------------------------------------------------
    def supports_factors(self, factors: Sequence[int]) -> bool:
        try:
            self.check_factors(factors)
        except ConfigError:
            return False
        return True

    def check_factors(self, factors: Sequence[int] | int) -> tuple[int, ...]:
        """Per-axis integer factors (an int applies to every axis); raise ConfigError if unsupported."""
        vals = [factors] * self.spatial_dims if isinstance(factors, (int, float)) else list(factors)
        if len(vals) != self.spatial_dims:
            raise ConfigError(
                None,
                f"architecture {self.name!r} is {self.spatial_dims}D but got {len(vals)} factors {tuple(vals)}",
                f"give {self.spatial_dims} per-axis factors",
            )
        out = []
        for v in vals:
            if float(v) != int(v):
                raise ConfigError(
                    None,
                    f"architecture {self.name!r} needs integer factors, got {tuple(vals)}",
                    "use integer factors such as 1 4; resample non-integer ratios afterwards",
                )
            out.append(int(v))
        fac = tuple(out)
        if any(v not in self.factor_values for v in fac):
            raise ConfigError(
                None,
                f"architecture {self.name!r} supports per-axis factors {self.factor_values}, got {fac}",
                "choose supported factors or another architecture",
            )
        if self.through_plane_only and any(v != 1 for v in fac[:-1]):
            raise ConfigError(
                None,
                f"architecture {self.name!r} upsamples only its last axis, got {fac}",
                "put the factor on the last axis, e.g. (1, 4)",
            )
        return fac

    def check_channels(self, channels: int) -> int:
        if int(channels) not in self.channels:
            raise ConfigError(
                None,
                f"architecture {self.name!r} supports {self.channels} channels, got {channels}",
                "convert the image (grey or RGB) or choose another architecture",
            )
        return int(channels)

    def check_dtype(self, dtype: str) -> str:
        if dtype not in self.dtypes:
            raise ConfigError(None, f"architecture {self.name!r} runs in {self.dtypes}, not {dtype!r}", "use float32")
        return dtype

    # -- import ----------------------------------------------------------------------------
    def load_class(self) -> Any:
        """Import and return the architecture class (the first time this imports torch)."""
        module, _, attr = self.builder.partition(":")
        try:
            return getattr(import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                None,
                f"architecture {self.name!r} cannot be imported from {self.builder!r} ({exc})",
                "check the installation of medsr",
            ) from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able facts (for listings and bundle reports)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}
