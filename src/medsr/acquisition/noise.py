"""Acquisition noise models, applied on the low-resolution grid after sampling.

* ``gaussian``: ``y = x + n``, ``n ~ N(0, sigma²)`` (sigma in image units).
* ``rician``: MRI magnitude images, ``y = |x + n1 + i n2|`` with ``n1, n2 ~ N(0, sigma²)``
  (Gudbjartsson & Patz, MRM 1995). The background becomes Rayleigh-distributed.
* ``ct``: Poisson-like CT noise in HU. The variance is proportional to the signal in
  attenuation units, ``mu / mu_water = (HU + 1000) / 1000`` (clipped at 0), so that
  ``sigma`` is the noise standard deviation (HU) in water: ``var = sigma² · max(0, (HU+1000)/1000)``.
  Air stays nearly noiseless, bone is noisier than soft tissue.

A model is given as a :class:`NoiseModel`, a dict ``{"kind": ..., "sigma": ...}`` or a string
``"kind:sigma"`` (e.g. ``"rician:8"``). The generator is ``numpy.random.default_rng(seed)``,
so the same seed gives the same noise.

Example:
    >>> import numpy as np
    >>> m = NoiseModel.parse("rician:2")
    >>> y = m.apply(np.zeros((1, 64, 64, 1)), seed=0)
    >>> bool(y.min() >= 0), round(float(y.mean()), 1)   # Rayleigh mean sigma·sqrt(pi/2) ≈ 2.5
    (True, 2.5)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from medsr.errors import ConfigError

KINDS = ("gaussian", "rician", "ct")


@dataclass(frozen=True)
class NoiseModel:
    """Additive/magnitude noise of standard deviation ``sigma`` (image units; HU in water for ``ct``)."""

    kind: str
    sigma: float

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(None, f"unknown noise model {self.kind!r}", f"use one of {', '.join(KINDS)}")
        if not (np.isfinite(self.sigma) and self.sigma >= 0):
            raise ConfigError(None, f"noise sigma {self.sigma} must be finite and ≥ 0", "give sigma in image units")

    @classmethod
    def parse(cls, spec: NoiseModel | dict[str, Any] | str) -> NoiseModel:
        """From a NoiseModel, ``{"kind": "rician", "sigma": 8}`` or ``"rician:8"``."""
        if isinstance(spec, NoiseModel):
            return spec
        if isinstance(spec, str):
            kind, _, sigma = spec.partition(":")
            try:
                return cls(kind.strip().lower(), float(sigma))
            except ValueError:
                raise ConfigError(
                    None, f"noise spec {spec!r} is not kind:sigma", "write e.g. gaussian:5, rician:8 or ct:20"
                ) from None
        if isinstance(spec, dict) and "kind" in spec and "sigma" in spec:
            return cls(str(spec["kind"]).lower(), float(spec["sigma"]))
        raise ConfigError(
            None,
            f"noise spec {spec!r} is not understood",
            'give {"kind": "gaussian"|"rician"|"ct", "sigma": value} or "kind:sigma"',
        )

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "sigma": float(self.sigma)}

    def apply(self, data: np.ndarray, seed: int | None = 0) -> np.ndarray:
        """Noisy float64 copy of ``data`` (any shape)."""
        rng = np.random.default_rng(seed)
        x = np.asarray(data, dtype=np.float64)
        if self.kind == "gaussian":
            return add_gaussian(x, self.sigma, rng)
        if self.kind == "rician":
            return add_rician(x, self.sigma, rng)
        return add_ct_noise(x, self.sigma, rng)


def add_gaussian(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return x + rng.normal(0.0, sigma, size=x.shape)


def add_rician(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``|x + n1 + i n2|``: the magnitude of a complex signal with Gaussian noise in both parts."""
    real = x + rng.normal(0.0, sigma, size=x.shape)
    imag = rng.normal(0.0, sigma, size=x.shape)
    return np.hypot(real, imag)


def add_ct_noise(hu: np.ndarray, sigma_water_hu: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise whose variance is ``sigma² · max(0, (HU + 1000) / 1000)`` (HU)."""
    rel_mu = np.clip((hu + 1000.0) / 1000.0, 0.0, None)
    return hu + rng.normal(0.0, 1.0, size=hu.shape) * sigma_water_hu * np.sqrt(rel_mu)
