"""The registry of architectures: descriptors only, nothing imported until :func:`build`.

Importing this module loads neither torch nor any architecture. Each entry of
:data:`_BUILTIN` is one :class:`~medsr.models.descriptor.ArchDescriptor`; to add an
architecture, write ``models/<name>.py`` and add one entry here (or call :func:`register`
at run time for plug-ins and tests).

Example:
    >>> sorted(list_archs())[:2]
    ['fast', 'fast3d']
    >>> get_arch("strong").spatial_dims
    2
    >>> net = build("fast", in_channels=1, factors=(1, 4))  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from medsr.errors import ConfigError
from medsr.models.descriptor import ArchDescriptor

_BUILTIN: tuple[ArchDescriptor, ...] = (
    ArchDescriptor(
        name="fast",
        spatial_dims=2,
        builder="medsr.models.fast:FastSR",
        default_tile=256,
        summary="tiny ESPCN-like CNN on the LR grid, per-axis pixel shuffle, linear skip",
        reference="Shi et al., ESPCN, CVPR 2016; Dong et al., FSRCNN, ECCV 2016",
    ),
    ArchDescriptor(
        name="fast3d",
        spatial_dims=3,
        builder="medsr.models.fast:FastSR",
        default_tile=64,
        summary="the fast CNN with 3D convolutions and a 3D per-axis pixel shuffle",
        reference="Shi et al., ESPCN, CVPR 2016",
    ),
    ArchDescriptor(
        name="strong",
        spatial_dims=2,
        builder="medsr.models.strong:StrongSR",
        default_tile=192,
        summary="EDSR/RCAN-lite: 3 residual groups of 4 blocks, 64 channels, local channel attention",
        reference="Lim et al., EDSR, CVPRW 2017; Zhang et al., RCAN, ECCV 2018",
    ),
    ArchDescriptor(
        name="rdn3d",
        spatial_dims=3,
        builder="medsr.models.rdn3d:RDN3D",
        default_tile=48,
        summary="3D residual dense network, per-axis 3D pixel shuffle (e.g. through-plane 1 1 4)",
        reference="Zhang et al., RDN, CVPR 2018; Chen et al., mDCSRN, MICCAI 2018",
    ),
    ArchDescriptor(
        name="planar_residual",
        spatial_dims=2,
        builder="medsr.models.planar_residual:PlanarResidualNet",
        channels=(1,),
        factor_values=(1,),
        input_grid="hr",
        size_multiple=2,
        default_tile=256,
        summary="residual CNN on pre-interpolated planes, pixel-unshuffled body (medsr enhance)",
        reference="Zhao et al., SMORE, IEEE TMI 2021; Zhang et al., FFDNet, IEEE TIP 2018",
    ),
)

_REGISTRY: dict[str, ArchDescriptor] = {d.name: d for d in _BUILTIN}


def register(descriptor: ArchDescriptor, *, replace: bool = False) -> ArchDescriptor:
    """Add an architecture at run time; ``replace=True`` overrides an existing name."""
    if descriptor.name in _REGISTRY and not replace:
        raise ConfigError(
            None, f"architecture {descriptor.name!r} is already registered", "choose another name or pass replace=True"
        )
    _REGISTRY[descriptor.name] = descriptor
    return descriptor


def list_archs() -> list[str]:
    """Names of all registered architectures, sorted."""
    return sorted(_REGISTRY)


def get_arch(name: str) -> ArchDescriptor:
    """The descriptor of ``name``; ConfigError listing the known names if it is unknown."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(None, f"unknown architecture {name!r}", f"use one of {', '.join(list_archs())}") from None


def build(name: str, *, in_channels: int = 1, factors: Sequence[int] | int = 2, **kwargs: Any) -> Any:
    """Instantiate architecture ``name`` as a ``torch.nn.Module`` on the CPU in float32.

    Args:
        name: a registered architecture.
        in_channels: 1 (grey) or 3 (RGB); the output has the same channels.
        factors: per-axis integer scale factors, one per spatial dimension of the
            architecture (an int applies to all axes), e.g. ``(1, 4)`` or ``(1, 1, 4)``.
        **kwargs: architecture options (width, depth …), recorded in bundles.

    ``in_channels`` and ``factors`` are validated against the descriptor and passed to the
    class only when its constructor takes parameters of those names.
    """
    desc = get_arch(name)
    channels = desc.check_channels(in_channels)
    fac = desc.check_factors(factors)
    cls = desc.load_class()
    params = inspect.signature(cls).parameters
    call: dict[str, Any] = {**desc.defaults, **kwargs}
    if "in_channels" in params:
        call["in_channels"] = channels
    if "factors" in params:
        call["factors"] = fac
    try:
        inspect.signature(cls).bind(**call)
    except TypeError as exc:
        raise ConfigError(
            None, f"architecture {name!r} rejects options {sorted(kwargs)} ({exc})", f"use options of {desc.builder}"
        ) from None
    return cls(**call)
