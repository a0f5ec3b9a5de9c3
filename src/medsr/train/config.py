"""The typed training configuration: dataclasses read from YAML and checked field by field.

A run is described by one :class:`TrainConfig`. Every key of the YAML file must name a field,
every value must have the field's type and lie in its range; otherwise a
:class:`medsr.errors.ConfigError` names the file, the key (``optim.lr``), the value and a
remedy. The resolved configuration (defaults filled in, command-line overrides applied) is
written to ``RUN_DIR/config.yaml`` so a run can be repeated exactly.

Example config (every key optional except ``data.train`` and ``degradation.factors``)::

    data:
      train: /data/ct_hr            # folder of HR images (any format medsr reads)
      val: /data/ct_val             # optional held-out folder
    degradation:
      factors: [2, 2, 1]            # per-axis factors X Y Z
      profiles: [rect, gaussian]
      thickness_scale: [0.7, 1.3]   # slice thickness / FWHM as a multiple of the factor
      noise_sigma: [0.0, 0.01]      # Gaussian noise, fraction of the intensity window
    patches: {mode: 2d, size: [64, 64], batch_size: 16}
    model: {arch: fast}
    optim: {steps: 2000, lr: 0.001}

    >>> cfg = config_from_dict({"data": {"train": "hr/"}, "degradation": {"factors": [2, 2, 1]}})
    >>> cfg.patches.mode, cfg.optim.steps
    ('2d', 1000)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medsr.errors import ConfigError
from medsr.train.typed_fields import build, deep_copy, set_dotted
from medsr.train.typed_fields import spec as _f

PROFILES = ("rect", "gaussian")
NOISE_KINDS = ("gaussian", "rician", "ct")
KSPACE_WINDOWS = ("none", "hann", "tukey")
PATCH_MODES = ("2d", "2.5d", "3d")
from medsr.vocabulary import LOSSES  # noqa: E402 - the one loss vocabulary

AXES = ("x", "y", "z")


@dataclass
class DataConfig:
    """Where the images come from and how their intensities are normalised."""

    train: str = _f("", doc="folder (or file) of HR training images")
    val: str | None = _f(None, doc="folder of HR validation images (default: none)")
    pairs: str | None = _f(None, doc="folder of LR images matched to `train` by file name")
    val_pairs: str | None = _f(None, doc="folder of LR images matched to `val` by file name")
    series: str | None = _f(None, doc="DICOM series (UID or index) when a folder holds several")
    modality: str = _f("auto", doc="modality recorded in the bundle (CT, MR, CR, XC, SM …); auto: from the files")
    grey: bool = _f(False, doc="convert RGB images to grey (luminance)")
    normalization: str = _f("auto", choices=("auto", "ct-window", "percentile", "fixed-8bit", "fixed-16bit"))
    window: list[float] | None = _f(None, length=(2,), doc="CT window lo hi (HU) for ct-window")
    description: str = _f("", doc="free text describing the training data (goes into the bundle)")


@dataclass
class DegradationConfig:
    """How low-resolution inputs are simulated from HR patches, each draw at random."""

    factors: list[float] = _f(factory=list, lo=1.0, hi=16.0, length=(2, 3), doc="per-axis factors X Y [Z]")
    profiles: list[str] = _f(factory=lambda: ["rect", "gaussian"], choices=PROFILES, length=(1, 2))
    profile_weights: list[float] | None = _f(
        None, lo=0.0, length=(1, 2), doc="probability of each profile (default equal)"
    )
    thickness_scale: list[float] = _f(
        factory=lambda: [0.7, 1.3],
        lo=0.0,
        hi=4.0,
        length=(2,),
        doc="slice thickness (rect) or FWHM (gaussian) ÷ LR spacing",
    )
    blur_fwhm: list[float] = _f(
        factory=lambda: [0.0, 0.0], lo=0.0, hi=8.0, length=(2,), doc="extra isotropic Gaussian PSF FWHM, in HR voxels"
    )
    blur_probability: float = _f(0.0, lo=0.0, hi=1.0)
    noise: str = _f("gaussian", choices=NOISE_KINDS, doc="gaussian, rician (MRI) or ct (HU-dependent)")
    noise_sigma: list[float] = _f(
        factory=lambda: [0.0, 0.0],
        lo=0.0,
        hi=1.0,
        length=(2,),
        doc="noise sigma as a fraction of the intensity window (hi - lo)",
    )
    noise_probability: float = _f(0.0, lo=0.0, hi=1.0)
    kspace_probability: float = _f(0.0, lo=0.0, hi=1.0, doc="MRI: truncate k-space instead of integrating")
    kspace_windows: list[str] = _f(factory=lambda: ["hann", "tukey"], choices=KSPACE_WINDOWS, length=(1, 2, 3))
    jpeg_probability: float = _f(0.0, lo=0.0, hi=1.0, doc="2D photographs: JPEG-compress the LR input")
    jpeg_quality: list[int] = _f(factory=lambda: [60, 95], lo=1, hi=100, length=(2,), doc="JPEG quality range")


@dataclass
class PatchConfig:
    """Which patches the network sees: 2D planes, 2.5D slabs (neighbours as channels) or 3D."""

    mode: str = _f("2d", choices=PATCH_MODES)
    size: list[int] = _f(factory=lambda: [64, 64], lo=4, hi=1024, length=(2, 3), doc="HR patch size")
    slice_axis: str = _f("z", choices=AXES, doc="normal of the planes in 2d/2.5d mode")
    neighbours: int = _f(1, lo=0, hi=8, doc="2.5d: slices on each side given as extra channels")
    batch_size: int = _f(16, lo=1, hi=4096)
    draws_per_batch: int = _f(4, lo=0, hi=4096, doc="acquisition models drawn per batch (0 = one per patch)")
    foreground_fraction: float = _f(0.9, lo=0.0, hi=1.0, doc="share of patches centred in the mask")
    augment: bool = _f(True, doc="random flips (and transposes when the plane is isotropic)")


@dataclass
class ModelConfig:
    arch: str = _f("fast", doc="architecture name in the registry (medsr.models)")
    kwargs: dict[str, Any] = _f(factory=dict, doc="keyword arguments of the architecture")


@dataclass
class OptimConfig:
    steps: int = _f(1000, lo=1, hi=10_000_000)
    lr: float = _f(1e-3, lo=0.0, hi=1.0)
    min_lr_fraction: float = _f(0.05, lo=0.0, hi=1.0, doc="cosine schedule floor, fraction of lr")
    warmup_steps: int = _f(50, lo=0, hi=1_000_000)
    weight_decay: float = _f(0.0, lo=0.0, hi=1.0)
    loss: str = _f("l1", choices=LOSSES)
    grad_clip: float = _f(1.0, lo=0.0, hi=1e6, doc="max gradient norm (0 = off)")


@dataclass
class RunConfig:
    seed: int = _f(0, lo=0, hi=2**31 - 1)
    device: str = _f("auto", doc="auto, cpu, cuda or cuda:N")
    threads: int = _f(0, lo=0, hi=1024, doc="CPU threads for torch (0 = torch's default)")
    val_every: int = _f(200, lo=1)
    checkpoint_every: int = _f(200, lo=1)
    keep_checkpoints: int = _f(2, lo=1, hi=1000)
    log_every: int = _f(10, lo=1)
    val_crops: int = _f(4, lo=1, hi=10_000, doc="validation crops per validation image")
    val_crop_size: list[int] = _f(
        factory=lambda: [192, 192],
        lo=8,
        length=(2, 3),
        doc="HR crop size; in 3d mode two values mean a cube of min(64, first)",
    )


@dataclass
class BundleConfig:
    """What the bundle says about itself."""

    name: str = _f("")
    modality: str = _f("", doc="overrides data.modality in the bundle")
    licence: str = _f("Apache-2.0 (weights); see the training data's own licences")
    intended_use: str = _f("research, not diagnosis")
    notes: str = _f("")


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    degradation: DegradationConfig = field(default_factory=DegradationConfig)
    patches: PatchConfig = field(default_factory=PatchConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    bundle: BundleConfig = field(default_factory=BundleConfig)

    @property
    def factors3(self) -> tuple[float, float, float]:
        f = [float(v) for v in self.degradation.factors]
        return (f[0], f[1], f[2] if len(f) == 3 else 1.0)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -- loading ------------------------------------------------------------------------------------
def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML file into a checked :class:`TrainConfig`; ``overrides`` maps dotted keys
    (``"optim.steps"``) to values applied on top (the command line's flags)."""
    from medsr.safeload import load_yaml

    p = Path(path)
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            p, f"cannot read the config ({getattr(exc, 'strerror', None) or exc})", "check the path"
        ) from None
    raw = load_yaml(text, p) or {}
    if not isinstance(raw, dict):
        raise ConfigError(
            p,
            f"the top level must be a mapping, got {type(raw).__name__}",
            "write sections such as 'data:' and 'optim:'",
        )
    return config_from_dict(raw, source=p, overrides=overrides)


def config_from_dict(
    raw: dict[str, Any], source: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> TrainConfig:
    """Build and check a :class:`TrainConfig` from nested dicts (see :func:`load_config`)."""
    merged = deep_copy(raw)
    for key, value in (overrides or {}).items():
        if value is not None:
            set_dotted(merged, key, value)
    cfg = build(TrainConfig, merged, "", source)
    check_config(cfg, source)
    return cfg


def save_config(cfg: TrainConfig, path: str | Path) -> Path:
    """Write the resolved config as YAML (atomically)."""
    import yaml

    from medsr.io.atomic import atomic_write

    return atomic_write(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False), overwrite=True)


# -- cross-field checks -------------------------------------------------------------------------
def check_config(cfg: TrainConfig, source: str | Path | None = None) -> None:
    """Checks that involve several fields (factor/patch compatibility and the like)."""
    d, p = cfg.degradation, cfg.patches
    if not cfg.data.train:
        raise ConfigError(source, "data.train is not set", "pass --data DIR or set data.train in the config")
    if not d.factors:
        raise ConfigError(source, "degradation.factors is not set", "pass --factors FX FY [FZ]")
    f = cfg.factors3
    if max(f) <= 1:
        raise ConfigError(source, f"degradation.factors {list(f)} degrade nothing", "give a factor above 1")
    if any(abs(v - round(v)) > 1e-6 for v in f):
        raise ConfigError(
            source,
            f"degradation.factors {list(f)} must be whole numbers for training",
            "use integer factors such as 2 2 1 (the network's pixel shuffle needs them)",
        )
    if (
        d.thickness_scale[0] > d.thickness_scale[1]
        or d.blur_fwhm[0] > d.blur_fwhm[1]
        or d.noise_sigma[0] > d.noise_sigma[1]
    ):
        raise ConfigError(
            source, "a degradation range has its low end above its high end", "write ranges as [low, high]"
        )
    if d.profile_weights is not None and (len(d.profile_weights) != len(d.profiles) or sum(d.profile_weights) <= 0):
        raise ConfigError(
            source,
            f"degradation.profile_weights {d.profile_weights} do not match profiles {d.profiles}",
            "give one positive weight per profile",
        )
    want = 3 if p.mode == "3d" else 2
    if len(p.size) != want:
        raise ConfigError(
            source, f"patches.size {p.size} needs {want} values in {p.mode} mode", f"give {want} sizes (HR voxels)"
        )
    axis = AXES.index(p.slice_axis)
    if p.mode != "3d" and f[axis] != 1:
        raise ConfigError(
            source,
            f"factor {f[axis]} along the slice axis {p.slice_axis} in {p.mode} mode",
            "choose patches.slice_axis along an axis with factor 1, or use mode 3d",
        )
    sizes = _patch_axes(p.size, p.mode, axis)
    for a, (n, fa) in enumerate(zip(sizes, f, strict=False)):
        if n % int(round(fa)):
            raise ConfigError(
                source,
                f"patches.size along {AXES[a]} ({n}) is not a multiple of its factor {fa:g}",
                "choose patch sizes divisible by the factors",
            )
    if (cfg.data.val_pairs is not None) and cfg.data.val is None:
        raise ConfigError(source, "data.val_pairs is set but data.val is not", "give both folders")


def _patch_axes(size: list[int], mode: str, slice_axis: int) -> list[int]:
    """The HR patch size along X, Y, Z (1 along the slice axis in 2d mode)."""
    if mode == "3d":
        return [int(v) for v in size]
    plane = [a for a in range(3) if a != slice_axis]
    out = [1, 1, 1]
    out[plane[0]], out[plane[1]] = int(size[0]), int(size[1])
    return out


def patch_shape(cfg: TrainConfig) -> tuple[int, int, int]:
    """HR patch size (X, Y, Z) in voxels; the slice axis is 1 in 2d/2.5d mode (neighbours excluded)."""
    p = cfg.patches
    return tuple(_patch_axes(p.size, p.mode, AXES.index(p.slice_axis)))  # type: ignore[return-value]
