"""Invertible intensity normalisation: physical units ⇄ the network's working range.

A :class:`Normalizer` is a linear map per channel, ``y = (x - lo) / (hi - lo)``, with the exact
inverse ``x = y (hi - lo) + lo``. Nothing is clipped, so values outside the window (bone above
the CT window, bright vessels above the MRI percentile) survive the round trip. The parameters
are recorded with :meth:`Normalizer.to_dict` in sidecars and model bundles.
Both directions compute in float64 and return the input's floating dtype (float32 for integer
input), so a float64 round trip is exact to about 1e-12 of the window and a float32 one to
float32 rounding (about 1e-7 of the window).

Modes (chosen by :meth:`Normalizer.fit` from ``meta.modality``, ``meta.source_dtype`` and
``meta.rgb`` unless given):

* ``ct-window``: a fixed Hounsfield window, by default -1024 … 3071 HU → 0 … 1 (CT).
* ``percentile``: robust per-channel window from the 0.5th to the 99.5th percentile
  (MRI and anything unknown).
* ``fixed-8bit``: 0 … 255 → 0 … 1 per channel (8-bit photos, RGB slides, fundus).
* ``fixed-16bit``: 0 … 65535 → 0 … 1 (16-bit photos and slides).

Example:
    >>> import numpy as np
    >>> from medsr.image import Image, ImageMeta
    >>> img = Image(np.array([[[[-1024.0, 0.0, 3071.0]]]], np.float32), meta=ImageMeta(modality="CT"))
    >>> norm = Normalizer.fit(img)
    >>> norm.mode, [round(float(v), 4) for v in norm.forward(img.data).ravel()]
    ('ct-window', [0.0, 0.2501, 1.0])
    >>> back = norm.inverse(norm.forward(img.data))   # float32 in, float32 out
    >>> float(np.abs(back - img.data).max()) < 1e-3   # float32 rounding of a 4095 HU window
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medsr.errors import ConfigError, InvalidImageError
from medsr.image import Image

MODES = ("ct-window", "percentile", "fixed-8bit", "fixed-16bit")
CT_WINDOW_HU = (-1024.0, 3071.0)
PERCENTILES = (0.5, 99.5)
_MAX_SAMPLES = 8_000_000  # percentiles on at most this many voxels per channel (strided)


@dataclass(frozen=True)
class Normalizer:
    """A per-channel linear map ``(x - lo) / (hi - lo)`` and its exact inverse.

    Attributes:
        mode: one of :data:`MODES` (recorded; the map itself is defined by ``lo``/``hi``).
        lo: value(s) mapped to 0, one per channel (a single value applies to every channel).
        hi: value(s) mapped to 1, one per channel; each ``hi > lo``.
        params: JSON-able details of how ``lo``/``hi`` were chosen (e.g. the percentiles).
    """

    mode: str
    lo: tuple[float, ...]
    hi: tuple[float, ...]
    params: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        lo = tuple(float(v) for v in np.atleast_1d(self.lo))
        hi = tuple(float(v) for v in np.atleast_1d(self.hi))
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)
        if self.mode not in MODES:
            raise ConfigError(None, f"unknown normalisation mode {self.mode!r}", f"use one of {', '.join(MODES)}")
        if len(lo) != len(hi) or not lo:
            raise ConfigError(
                None,
                f"normaliser needs as many lo as hi values, got {lo} and {hi}",
                "give one lo and one hi per channel",
            )
        bad = [(a, b) for a, b in zip(lo, hi, strict=False) if not (np.isfinite(a) and np.isfinite(b) and b > a)]
        if bad:
            raise ConfigError(
                None, f"normaliser windows {bad} are empty or not finite", "give hi > lo for every channel"
            )

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        image: Image,
        mode: str = "auto",
        *,
        window: Sequence[float] | None = None,
        percentiles: Sequence[float] = PERCENTILES,
    ) -> Normalizer:
        """Choose the mode (``auto``) and its window for ``image``.

        ``auto`` picks ``ct-window`` for CT (or HU units), ``percentile`` for MR, ``fixed-8bit``
        or ``fixed-16bit`` for unsigned 8/16-bit photos (X-ray and RGB included for 8-bit), and
        ``percentile`` otherwise. ``window`` (lo, hi) overrides the CT window.
        """
        chosen = _auto_mode(image) if mode == "auto" else mode
        if chosen == "ct-window":
            lo, hi = (float(window[0]), float(window[1])) if window is not None else CT_WINDOW_HU
            return cls(chosen, (lo,), (hi,), {"window_hu": [lo, hi]})
        if chosen == "fixed-8bit":
            return cls(chosen, (0.0,) * image.channels, (255.0,) * image.channels, {})
        if chosen == "fixed-16bit":
            return cls(chosen, (0.0,) * image.channels, (65535.0,) * image.channels, {})
        if chosen == "percentile":
            return _fit_percentile(image, percentiles)
        raise ConfigError(
            image.meta.source_path, f"unknown normalisation mode {mode!r}", f"use auto or one of {', '.join(MODES)}"
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalizer:
        """Rebuild from :meth:`to_dict` output (a sidecar or a model bundle)."""
        try:
            return cls(str(d["mode"]), tuple(d["lo"]), tuple(d["hi"]), dict(d.get("params", {})))
        except (KeyError, TypeError) as exc:
            raise ConfigError(
                None,
                f"normaliser record {d!r} is incomplete ({exc})",
                "record mode, lo and hi as written by Normalizer.to_dict",
            ) from None

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "lo": list(self.lo), "hi": list(self.hi), "params": dict(self.params)}

    # -- application -------------------------------------------------------------------------
    def forward(self, array: np.ndarray, channel_axis: int = 0) -> np.ndarray:
        """Physical values → working range. ``array`` has channels on ``channel_axis``
        (``(C, X, Y, Z)`` by default); a one-channel normaliser applies to any shape."""
        lo, scale = self._broadcast(array, channel_axis)
        out = (np.asarray(array, dtype=np.float64) - lo) / scale
        return out.astype(_out_dtype(array), copy=False)

    def inverse(self, array: np.ndarray, channel_axis: int = 0) -> np.ndarray:
        """Working range → physical values; the exact inverse of :meth:`forward`, no clipping."""
        lo, scale = self._broadcast(array, channel_axis)
        out = np.asarray(array, dtype=np.float64) * scale + lo
        return out.astype(_out_dtype(array), copy=False)

    def forward_(self, array: np.ndarray, channel_axis: int = 0) -> np.ndarray:
        """:meth:`forward` in place on a float32 array (a memmap too), a chunk at a time."""
        return self._inplace(array, channel_axis, inverse=False)

    def inverse_(self, array: np.ndarray, channel_axis: int = 0) -> np.ndarray:
        """:meth:`inverse` in place on a float32 array (a memmap too), a chunk at a time.

        Example:
            >>> norm = Normalizer("percentile", (10.0,), (20.0,), {})
            >>> norm.inverse_(np.array([0.0, 0.5, 1.0], np.float32)).tolist()
            [10.0, 15.0, 20.0]
        """
        return self._inplace(array, channel_axis, inverse=True)

    def _inplace(self, array: np.ndarray, channel_axis: int, inverse: bool) -> np.ndarray:
        lo = np.asarray(self.lo, dtype=np.float64)
        scale = np.asarray(self.hi, dtype=np.float64) - lo
        if lo.size == 1:  # slices along axis 0 are views whatever the memory layout
            views = [(array, 0)]
        else:
            moved = np.moveaxis(array, channel_axis, 0)
            views = [(moved[c], c) for c in range(moved.shape[0])]
        for view, k in views:
            lo_k, scale_k = np.float32(lo[k]), np.float32(scale[k])
            if view.ndim == 0:
                view = view.reshape(1)
            step = max(1, (1 << 24) // max(1, int(np.prod(view.shape[1:]))))
            for i in range(0, view.shape[0], step):
                block = view[i : i + step]
                if inverse:
                    block *= scale_k
                    block += lo_k
                else:
                    block -= lo_k
                    block /= scale_k
        return array

    def forward_image(self, image: Image) -> Image:
        """An Image in the working range, with this normaliser appended to ``meta.history``."""
        out = image.with_data(self.forward(image.data))
        out.meta.history.append({"op": "normalize", **self.to_dict()})
        return out

    def inverse_image(self, image: Image) -> Image:
        out = image.with_data(self.inverse(image.data))
        out.meta.history.append({"op": "denormalize", **self.to_dict()})
        return out

    def _broadcast(self, array: np.ndarray, channel_axis: int) -> tuple[np.ndarray, np.ndarray]:
        lo = np.asarray(self.lo, dtype=np.float64)
        scale = np.asarray(self.hi, dtype=np.float64) - lo
        if lo.size == 1:
            return lo.reshape(()), scale.reshape(())
        nd = np.ndim(array)
        ax = channel_axis % nd if nd else 0
        if nd == 0 or np.shape(array)[ax] != lo.size:
            raise InvalidImageError(
                None,
                f"array of shape {np.shape(array)} has no axis {channel_axis} with {lo.size} channels",
                "pass channels first, as (C, X, Y, Z)",
            )
        shape = [1] * nd
        shape[ax] = lo.size
        return lo.reshape(shape), scale.reshape(shape)


def _out_dtype(array: np.ndarray) -> np.dtype:
    dt = np.asarray(array).dtype
    return dt if np.issubdtype(dt, np.floating) else np.dtype(np.float32)


def _auto_mode(image: Image) -> str:
    meta = image.meta
    if meta.modality == "CT" or meta.units == "HU":
        return "ct-window"
    if meta.modality == "MR":
        return "percentile"
    if meta.source_dtype == "uint8":
        return "fixed-8bit"
    if meta.source_dtype == "uint16" and (meta.rgb or meta.modality in ("XC", "SM")):
        return "fixed-16bit"
    return "percentile"


def _fit_percentile(image: Image, percentiles: Sequence[float]) -> Normalizer:
    p_lo, p_hi = (float(p) for p in percentiles)
    if not 0 <= p_lo < p_hi <= 100:
        raise ConfigError(None, f"percentiles {list(percentiles)} are not increasing within 0…100", "use e.g. 0.5 99.5")
    los, his = [], []
    for c in range(image.channels):
        flat = image.data[c].reshape(-1)
        step = max(1, flat.size // _MAX_SAMPLES)
        vals = flat[::step]
        vals = vals[np.isfinite(vals)]
        if vals.size == 0:
            raise InvalidImageError(
                image.meta.source_path, f"channel {c} has no finite values", "replace NaN/Inf before normalising"
            )
        lo, hi = (float(v) for v in np.percentile(vals, [p_lo, p_hi]))
        if hi <= lo:  # flat channel: fall back to its full range, then to a unit window
            lo, hi = float(vals.min()), float(vals.max())
            hi = hi if hi > lo else lo + 1.0
        los.append(lo)
        his.append(hi)
    return Normalizer("percentile", tuple(los), tuple(his), {"percentiles": [p_lo, p_hi]})
