"""Tiny training folders written with medsr.write (grey 2D NRRD, RGB PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medsr.image import Image, ImageMeta


def smooth_image(seed: int, shape: tuple[int, int] = (72, 64), channels: int = 1) -> Image:
    """A disc with smooth texture on a dark background, values 0…~150."""
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.linspace(-1, 1, shape[0]), np.linspace(-1, 1, shape[1]), indexing="ij")
    disc = (x**2 + y**2) < 0.8
    chans = [
        disc * (100 + 40 * np.sin((7 + c + seed) * x) * np.cos((5 + seed) * y)) + rng.normal(0, 1, x.shape)
        for c in range(channels)
    ]
    data = np.clip(np.stack(chans)[..., None], 0, 255).astype(np.float32)
    return Image(
        data,
        spacing=(0.5, 0.5, 1.0),
        meta=ImageMeta(
            modality="XC" if channels == 3 else "OT", spatial_dims=2, rgb=channels == 3, source_dtype="uint8"
        ),
    )


def write_folder(folder: Path, seeds: list[int], channels: int = 1, suffix: str = ".nrrd") -> Path:
    from medsr.io import write

    folder.mkdir(parents=True, exist_ok=True)
    for s in seeds:
        write(smooth_image(s, channels=channels), folder / f"img{s}{suffix}", dtype="uint8")
    return folder


@pytest.fixture
def grey_folders(tmp_path: Path) -> tuple[Path, Path]:
    return write_folder(tmp_path / "train", [0, 1]), write_folder(tmp_path / "val", [2])


def tiny_config(train: Path, val: Path | None, steps: int = 4, **sections: dict) -> dict:
    raw = {
        "data": {"train": str(train), "val": str(val) if val else None},
        "degradation": {"factors": [2, 2], "noise_probability": 0.5, "noise_sigma": [0.0, 0.01]},
        "patches": {"size": [16, 16], "batch_size": 4},
        "model": {"arch": "fast", "kwargs": {"width": 8, "depth": 2}},
        "optim": {"steps": steps, "warmup_steps": 1},
        "run": {
            "val_every": 2,
            "checkpoint_every": 2,
            "log_every": 1,
            "val_crops": 1,
            "val_crop_size": [32, 32],
            "threads": 1,
            "device": "cpu",
        },
    }
    for key, value in sections.items():
        raw.setdefault(key, {}).update(value)
    return raw
