"""What a model bundle says about itself: :class:`BundleMeta`, stored as JSON in the file.

A bundle is one ``.safetensors`` file; its header's ``__metadata__`` maps the key ``"medsr"``
to ``json.dumps(meta.to_dict())``. This module needs neither torch nor safetensors.

Fields (see :class:`BundleMeta`): architecture name and options, per-axis factors, channels,
modality, the intensity normaliser (``medsr.intensity.Normalizer.to_dict()``), the training
degradations, the input spacing range the model was trained for (mm), a description of the
training data, validation metrics, licence, intended use, the medsr version and the format
version.

Example:
    >>> m = BundleMeta(arch="fast", factors=(2, 2), channels=1, modality=["MR"])
    >>> BundleMeta.from_dict(m.to_dict()) == m
    True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from medsr.errors import BundleError

#: Version of the bundle layout; readers refuse newer versions.
FORMAT_VERSION = 1
META_KEY = "medsr"
INTENDED_USE = "research, not diagnosis"
_REQUIRED = ("format_version", "arch", "factors", "channels")


def _medsr_version() -> str:
    from medsr import __version__

    return __version__


@dataclass
class BundleMeta:
    """Metadata of a model bundle (everything except the weights).

    Attributes:
        arch: registered architecture name (``medsr.models.registry``).
        factors: per-axis integer factors of the architecture, e.g. ``(1, 4)`` or ``(1, 1, 4)``.
        channels: input = output channels (1 grey, 3 RGB).
        arch_kwargs: options passed to the architecture (width, depth …).
        modality: DICOM modalities the model was trained on, e.g. ``["MR"]``; empty = any.
        normalization: ``Normalizer.to_dict()`` (``mode``, ``lo``, ``hi``, ``params``) used in
            training; prediction applies the same map. Empty = the data were already in 0…1.
        degradations: how LR training inputs were made (profile, thickness, noise …).
        spacing_range_mm: ``[[min, max]] * 3`` input spacing (mm) per image axis X, Y, Z seen in
            training, or ``None``; prediction warns outside it.
        training_data: free text: data sets, number of subjects, licences.
        metrics: validation metrics, e.g. ``{"psnr_db": 34.1, "gain_vs_bspline_db": 1.2}``.
        license: licence of the weights (SPDX id where possible).
        intended_use: always research use; never diagnosis.
        name, description: for listings.
        medsr_version: version that wrote the bundle.
        format_version: bundle layout version (:data:`FORMAT_VERSION`).
        neighbours: 2.5D bundles: planes on each side of the centre plane stacked as channels
            (``0`` for 2D/3D bundles); see :mod:`medsr.engine.slab`.
        slice_axis: 2.5D/2D bundles: the image axis (0, 1, 2 = X, Y, Z) normal to the planes.
        image_channels: channels of the images (for 2.5D, ``channels = image_channels (2k+1)``).
        extra: anything else JSON-able (e.g. the training config).
    """

    arch: str
    factors: tuple[int, ...]
    channels: int = 1
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    modality: list[str] = field(default_factory=list)
    normalization: dict[str, Any] = field(default_factory=dict)
    degradations: dict[str, Any] = field(default_factory=dict)
    spacing_range_mm: list[list[float]] | None = None
    training_data: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    license: str = "unspecified"
    intended_use: str = INTENDED_USE
    name: str = ""
    description: str = ""
    medsr_version: str = field(default_factory=_medsr_version)
    format_version: int = FORMAT_VERSION
    neighbours: int = 0
    slice_axis: int | None = None
    image_channels: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.factors = tuple(int(f) for f in self.factors)
        self.channels = int(self.channels)
        self.neighbours = int(self.neighbours)
        self.slice_axis = None if self.slice_axis is None else int(self.slice_axis)
        self.image_channels = self.channels if self.image_channels is None else int(self.image_channels)
        self.modality = [str(m) for m in self.modality]
        if self.spacing_range_mm is not None:
            self.spacing_range_mm = [[float(a), float(b)] for a, b in self.spacing_range_mm]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["factors"] = list(self.factors)
        return d

    @classmethod
    def from_dict(cls, d: Any, path: str | None = None) -> BundleMeta:
        """Validate and rebuild; :class:`BundleError` names what is missing or wrong."""
        if not isinstance(d, dict):
            raise BundleError(
                path,
                f"bundle metadata is a {type(d).__name__}, not a JSON object",
                "write the bundle with medsr.models.bundle.save_bundle",
            )
        missing = [k for k in _REQUIRED if k not in d]
        if missing:
            raise BundleError(
                path, f"bundle metadata lacks {missing}", "write the bundle with medsr.models.bundle.save_bundle"
            )
        version = d["format_version"]
        if not isinstance(version, int) or version < 1:
            raise BundleError(path, f"bundle format_version {version!r} is not valid", "re-export the bundle")
        if version > FORMAT_VERSION:
            raise BundleError(
                path,
                f"bundle format_version {version} is newer than this medsr understands ({FORMAT_VERSION})",
                "upgrade medsr",
            )
        known = {f.name for f in fields(cls)}
        extra = dict(d.get("extra", {}))
        extra.update({k: v for k, v in d.items() if k not in known})
        kwargs = {k: v for k, v in d.items() if k in known and k != "extra"}
        for key in ("neighbours", "slice_axis", "image_channels"):  # bundles of medsr 0.1 kept them in extra
            if key not in kwargs and key in extra:
                kwargs[key] = extra.pop(key)
        if extra.get("patch_mode") != "2.5d" and "neighbours" not in d:
            kwargs["neighbours"] = 0
        try:
            factors = kwargs.pop("factors")
            if isinstance(factors, (int, float)) or not all(float(f) == int(f) and int(f) >= 1 for f in factors):
                raise ValueError(f"factors {factors!r} must be a list of integers >= 1")
            meta = cls(factors=tuple(int(f) for f in factors), extra=extra, **kwargs)
        except (TypeError, ValueError) as exc:
            raise BundleError(
                path, f"bundle metadata is malformed ({exc})", "re-export the bundle with save_bundle"
            ) from None
        meta.check(path)
        return meta

    def check(self, path: str | None = None) -> None:
        """Check the values against the registry (architecture, factors, channels)."""
        from medsr.errors import ConfigError
        from medsr.models.registry import get_arch

        try:
            desc = get_arch(self.arch)
            desc.check_factors(self.factors)
            desc.check_channels(self.channels)
        except ConfigError as exc:
            raise BundleError(
                path, f"bundle does not fit its architecture: {exc.reason}", exc.remedy or "re-export the bundle"
            ) from None
        if self.spacing_range_mm is not None and len(self.spacing_range_mm) != 3:
            raise BundleError(
                path,
                f"spacing_range_mm has {len(self.spacing_range_mm)} rows",
                "give [min, max] mm for each of X, Y, Z",
            )
