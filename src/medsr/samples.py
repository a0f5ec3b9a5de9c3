"""Paths to the small sample scans embedded in the package (see ``medsr/data/LICENSES.md``).

Example:
    >>> sample_path("chest-ct").name
    'chest_ct_crop.nrrd'
"""

from __future__ import annotations

from pathlib import Path

from medsr.errors import ConfigError

_SAMPLES = {
    "chest-ct": ("chest_ct_crop.nrrd", "chest CT crop, 0.57×0.57×5 mm, HU (pyradiomics, BSD-3)"),
    "mni-t1": ("mni_t1_crop.nii.gz", "MNI152 T1 template crop, 1 mm isotropic (nilearn)"),
}


def sample_path(name: str) -> Path:
    """The file of an embedded sample: ``chest-ct`` or ``mni-t1``."""
    if name not in _SAMPLES:
        raise ConfigError(None, f"unknown sample {name!r}", f"use one of {', '.join(_SAMPLES)}")
    return Path(__file__).resolve().parent / "data" / _SAMPLES[name][0]
