"""Model discovery: the bundles shipped with medsr and those in the user's folders, with cards.

Bundles are looked up in this order: the folder given as ``path``, each folder of the
``MEDSR_MODELS`` environment variable (``os.pathsep``-separated), then the shipped
``medsr/data/bundles``. A name is a file name without ``.safetensors``; the first folder that
has it wins. Cards are read from the bundle metadata only (no torch, no weights).

Example:
    >>> names = [card.name for card in list_models()]
    >>> "xray-x4" in names
    True
    >>> find_model("xray-x4").factors
    [4, 4]
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from medsr.errors import BundleError, ConfigError
from medsr.models.bundle_meta import BundleMeta

log = logging.getLogger(__name__)

SUFFIX = ".safetensors"
ENV = "MEDSR_MODELS"


@dataclass
class ModelCard:
    """What a user needs to choose a bundle: its task, data, range, licence and figures.

    ``spacing_range_mm`` is ``[[min, max]] * 3`` (mm, X Y Z); ``metrics`` the validation figures
    stored at training time; ``source`` is ``shipped`` or the folder it was found in.
    """

    name: str
    path: str
    task: str
    modality: list[str]
    factors: list[int]
    channels: int
    spacing_range_mm: list[list[float]] | None
    training_data: str
    license: str
    metrics: dict[str, Any]
    description: str = ""
    arch: str = ""
    intended_use: str = ""
    source: str = "shipped"
    plan: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def shipped_dir() -> Path:
    """The folder of the bundles that ship with medsr."""
    return Path(__file__).resolve().parents[1] / "data" / "bundles"


def search_path(path: str | os.PathLike[str] | None = None) -> list[Path]:
    """Folders searched for bundles, first match wins (see the module docstring)."""
    folders = [Path(path)] if path else []
    folders += [Path(p) for p in os.environ.get(ENV, "").split(os.pathsep) if p]
    return folders + [shipped_dir()]


def list_models(path: str | os.PathLike[str] | None = None) -> list[ModelCard]:
    """Cards of every bundle found, sorted by name; a folder's unreadable bundle is logged and
    skipped. A ``path`` that is not a folder raises :class:`~medsr.errors.ConfigError`."""
    if path and not Path(path).is_dir():
        raise ConfigError(str(path), "is not a folder of bundles", "give a folder that holds .safetensors bundles")
    cards: dict[str, ModelCard] = {}
    for folder in search_path(path):
        for file in sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []:
            name = file.name[: -len(SUFFIX)]
            if name in cards:
                continue
            try:
                cards[name] = card_of(file, source="shipped" if folder == shipped_dir() else str(folder))
            except BundleError as exc:
                log.warning("skipping %s: %s", file, exc.reason)
    return [cards[n] for n in sorted(cards)]


def resolve_model(spec: str | os.PathLike[str], path: str | os.PathLike[str] | None = None) -> Path:
    """The bundle file of ``spec``: a path to a file, or a name found on :func:`search_path`."""
    p = Path(spec)
    if p.exists() or p.suffix:
        return p
    for folder in search_path(path):
        candidate = folder / f"{spec}{SUFFIX}"
        if candidate.is_file():
            return candidate
    names = ", ".join(c.name for c in list_models(path)) or "none found"
    raise ConfigError(
        str(spec), "is neither a bundle file nor a known bundle name", f"give a .safetensors path or one of: {names}"
    )


def find_model(spec: str | os.PathLike[str], path: str | os.PathLike[str] | None = None) -> ModelCard:
    """The card of one bundle, by name or path."""
    file = resolve_model(spec, path)
    return card_of(file, source="shipped" if file.parent == shipped_dir() else str(file.parent))


def card_of(file: Path, source: str = "") -> ModelCard:
    """The card of the bundle ``file`` (metadata only)."""
    from medsr.models.bundle import read_bundle_meta

    meta = read_bundle_meta(file)
    return ModelCard(
        name=file.name[: -len(SUFFIX)],
        path=str(file),
        task=task_of(meta),
        modality=list(meta.modality),
        factors=list(meta.factors),
        channels=int(meta.image_channels or meta.channels),
        spacing_range_mm=meta.spacing_range_mm,
        training_data=meta.training_data,
        license=meta.license,
        metrics=dict(meta.metrics),
        description=meta.description,
        arch=meta.arch,
        intended_use=meta.intended_use,
        source=source,
        plan=dict(meta.extra.get("enhance_plan", {})),
    )


def task_of(meta: BundleMeta) -> str:
    """A short task line, e.g. ``2D ×4, grey`` or ``through-plane Z ×5 (enhance protocol)``."""
    colour = "RGB" if (meta.image_channels or meta.channels) == 3 else "grey"
    plan = meta.extra.get("enhance_plan")
    if plan:
        return (
            f"through-plane {plan.get('thick_axis', '?')} ×{plan.get('factor', '?'):.3g} (enhance protocol), {colour}"
        )
    factors = "×".join(str(f) for f in meta.factors) if len(set(meta.factors)) > 1 else f"×{meta.factors[0]}"
    dims = f"{len(meta.factors)}D" if not meta.neighbours else f"2.5D ({2 * meta.neighbours + 1} planes)"
    return f"{dims} {factors}, {colour}"
