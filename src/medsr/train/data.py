"""Training images: find them in a folder, read, normalise, and mask them.

Folder rules (:func:`list_images`): every file with an image suffix medsr reads (NIfTI, NRRD,
MHA, PNG, TIFF, JPEG, a single DICOM file) is one image; every sub-folder is one DICOM series
(read with ``series=data.series``). Hidden files and sidecar ``.json`` files are skipped. In
paired mode each HR image is matched to the LR image of the same file name (or, failing that,
the same stem) in the LR folder.

Each image is kept in memory normalised (:class:`medsr.intensity.Normalizer`; window → 0…1)
with the voxel coordinates of its foreground (:func:`medsr.mask.foreground_mask`), from which
patch centres are drawn.

Example:
    >>> list_images("no-such-folder")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    medsr.errors.ConfigError: no-such-folder: training data not found.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medsr.errors import ConfigError, MedsrError
from medsr.train.config import DataConfig

log = logging.getLogger(__name__)

_MAX_CENTRES = 400_000  # foreground coordinates kept per image (strided subsample)


@dataclass
class TrainImage:
    """One normalised training image.

    Attributes:
        path: where it was read from.
        data: normalised HR array ``(C, X, Y, Z)`` float32.
        spacing: HR spacing (mm), X Y Z.
        centres: ``(K, 3)`` int32 foreground voxel indices (patch centres).
        normalizer: the :class:`~medsr.intensity.Normalizer` applied to ``data``.
        meta: the :class:`~medsr.image.ImageMeta` as read.
        lr: paired mode: the normalised LR array on the degraded grid, else None.
    """

    path: str
    data: np.ndarray
    spacing: np.ndarray
    centres: np.ndarray
    normalizer: Any
    meta: Any
    lr: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.data.shape[1:])  # type: ignore[return-value]


def list_images(folder: str | Path) -> list[Path]:
    """The scans of ``folder`` by the batch planner's rule (:func:`medsr.batch.find_scans`):
    image files and DICOM series folders directly inside it, sorted by name; a single file or
    DICOM folder is a one-element list."""
    from medsr.batch import find_scans

    root = Path(folder)
    if not root.exists():
        raise ConfigError(root, "training data not found", "give a folder of images (or one image file)")
    try:
        return find_scans(root)
    except MedsrError as err:
        raise ConfigError(root, err.reason, err.remedy) from None


def match_pairs(hr_paths: list[Path], lr_folder: str | Path) -> list[Path]:
    """For each HR path the LR path of the same name (or stem) in ``lr_folder``."""
    lr = {p.name: p for p in list_images(lr_folder)}
    stems = {image_stem(p): p for p in lr.values()}
    out = []
    for hr in hr_paths:
        match = lr.get(hr.name) or stems.get(image_stem(hr))
        if match is None:
            raise ConfigError(
                lr_folder, f"no LR image matches {hr.name}", "give each HR image an LR image of the same file name"
            )
        out.append(match)
    return out


def image_stem(p: Path) -> str:
    """The file name without its image suffix (see :func:`medsr.batch.stem`)."""
    from medsr.batch import stem

    return stem(p)


def read_image(path: Path, cfg: DataConfig) -> Any:
    """Read one image (a file or a DICOM folder), converted to grey when ``cfg.grey``."""
    from medsr.io import read

    series: str | int | None = cfg.series
    if isinstance(series, str) and series.isdigit():
        series = int(series)
    img = read(path, series=series if path.is_dir() else None)
    img.check_finite()
    if cfg.grey and img.channels == 3:
        from medsr.mask import grey_values

        img = img.with_data(grey_values(img)[None], rgb=False)
    if cfg.modality != "auto":
        img.meta.modality = cfg.modality
    return img


def load_images(
    folder: str | Path,
    cfg: DataConfig,
    lr_folder: str | Path | None = None,
    factors: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> list[TrainImage]:
    """Read, normalise and mask every image of ``folder`` (and its LR partner in paired mode)."""
    from medsr.geometry import degrade_grid

    paths = list_images(folder)
    lr_paths = match_pairs(paths, lr_folder) if lr_folder else [None] * len(paths)
    out = []
    for path, lr_path in zip(paths, lr_paths, strict=False):
        img = read_image(path, cfg)
        item = prepare(img, cfg)
        if lr_path is not None:
            lr = read_image(lr_path, cfg)
            want = degrade_grid(img.grid, factors).shape
            if lr.shape != want or lr.channels != img.channels:
                raise ConfigError(
                    lr_path,
                    f"LR image of {lr.channels}×{lr.shape} voxels does not match HR "
                    f"{path.name} degraded by {list(factors)} ({img.channels}×{want})",
                    "make LR images on medsr's degraded grid (medsr degrade) or fix --factors",
                )
            item.lr = item.normalizer.forward(lr.data).astype(np.float32)
        out.append(item)
        log.info("training image %s: %s", path, img)
    channels = {t.data.shape[0] for t in out}
    if len(channels) > 1:
        raise ConfigError(
            folder,
            f"images have different channel counts {sorted(channels)}",
            "train grey and RGB images separately, or set data.grey: true",
        )
    return out


def prepare(img: Any, cfg: DataConfig) -> TrainImage:
    """Normalise ``img`` and collect its foreground coordinates."""
    from medsr.intensity import Normalizer
    from medsr.mask import foreground_mask

    norm = Normalizer.fit(img, cfg.normalization, window=cfg.window)
    mask = foreground_mask(img)
    centres = np.argwhere(mask).astype(np.int32)
    if len(centres) > _MAX_CENTRES:
        centres = centres[:: len(centres) // _MAX_CENTRES + 1]
    if len(centres) == 0:
        log.warning("%s: empty foreground mask; patches are drawn uniformly", img.meta.source_path)
    return TrainImage(
        path=str(img.meta.source_path),
        data=norm.forward(img.data).astype(np.float32),
        spacing=np.asarray(img.spacing, dtype=np.float64),
        centres=centres,
        normalizer=norm,
        meta=img.meta,
    )


def describe_images(items: Sequence[TrainImage]) -> list[dict[str, Any]]:
    """JSON-able record of the training images (for the bundle)."""
    return [
        {
            "file": Path(t.path).name,
            "shape": list(t.shape),
            "channels": int(t.data.shape[0]),
            "spacing_mm": [round(float(s), 6) for s in t.spacing],
            "modality": t.meta.modality,
            "normalization": t.normalizer.to_dict(),
        }
        for t in items
    ]
