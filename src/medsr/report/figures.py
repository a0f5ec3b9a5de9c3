"""Figures for reports: side-by-side slices with difference maps, and per-slice PSNR profiles.

Matplotlib is imported inside the functions and drives its Agg canvas directly (no pyplot, no
global backend switch). PNGs are written atomically (a temporary file in the target folder,
then an atomic rename), so a reader never sees half a figure.

Display conventions: slices are drawn with their physical aspect ratio (spacing in mm), the
superior (or anterior) direction up, and the patient's left on the viewer's right
(radiological convention); a 50 mm bar gives the scale.

Example:
    >>> import numpy as np, tempfile, os
    >>> from medsr.image import Image
    >>> ref = Image(np.random.default_rng(0).random((1, 16, 16, 8), dtype=np.float32), spacing=(1, 1, 2))
    >>> out = comparison_figure(ref, [ref], ["copy"], os.path.join(tempfile.mkdtemp(), "cmp.png"))
    >>> out.name
    'cmp.png'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medsr.errors import ConfigError, InvalidImageError
from medsr.image import Image

_UP_SIGN = {0: 1.0, 1: -1.0, 2: 1.0}  # world axis dominating a screen-vertical axis -> which way is up


def comparison_figure(
    reference: Image,
    predictions: Sequence[Image],
    names: Sequence[str],
    path: str | Path,
    *,
    axis: int | None = None,
    slice_index: int | None = None,
    window: tuple[float, float] | None = None,
    scores: Mapping[str, Any] | None = None,
    factors: Sequence[float] | None = None,
    title: str | None = None,
    crop: bool = True,
    overwrite: bool = False,
) -> Path:
    """Reference and predictions on the same slice, with ``|prediction - reference|`` below.

    Args:
        reference: the ground truth (or the input) Image; predictions on other grids are
            resampled onto it (linear) before slicing.
        predictions, names: the images to compare and their titles.
        path: the PNG to write (its folder must exist).
        axis: the axis normal to the drawn plane (0 = X sagittal, 1 = Y coronal, 2 = Z axial).
            Default: a through-plane view that contains the upsampled axis, which is the
            largest of ``factors``, else of the factors recorded in the predictions'
            ``meta.history``, else the reference's coarsest axis.
        slice_index: index along ``axis`` (default: the middle).
        window: grey window ``(lo, hi)`` in image units (default: p0.1 … p99.9 of the reference).
        scores: :func:`medsr.evaluation.evaluate`'s result, or ``{name: {"psnr": …, "ssim": …}}``.
        factors: the degradation factors, to choose the default ``axis``.
        title: a line above the panels.
        crop: show only the bounding box of the reference's foreground on that slice (values
            above 10 % of the window), with a margin.
        overwrite: replace an existing PNG (never an input).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    from medsr.baselines import resample_to_grid
    from medsr.metrics import same_grid

    for img in [reference, *predictions]:
        _check_image(img)
    if len(predictions) != len(names):
        raise ConfigError(None, f"{len(names)} names for {len(predictions)} predictions", "give one name each")
    preds = [p if same_grid(p, reference) else resample_to_grid(p, reference.grid, "linear") for p in predictions]
    ax_n = _slicing_axis(reference, predictions, axis, factors)
    idx = reference.shape[ax_n] // 2 if slice_index is None else int(slice_index)
    if not 0 <= idx < reference.shape[ax_n]:
        raise ConfigError(
            None,
            f"slice {idx} is outside 0…{reference.shape[ax_n] - 1} along axis {ax_n}",
            "choose a slice inside the image",
        )
    planes = [_plane(img, ax_n, idx) for img in [reference, *preds]]
    lo, hi = window if window is not None else _window(reference)
    grey = planes[0] if planes[0].ndim == 2 else planes[0].mean(axis=-1)
    box = _box(grey, lo + 0.1 * (hi - lo)) if crop else (slice(None), slice(None))
    planes = [p[box] for p in planes]
    diffs = [_absdiff(p, planes[0]) for p in planes[1:]]
    dmax = float(max(np.percentile(d, 99.5) for d in diffs)) if diffs else 1.0
    h, v = _plane_axes(reference, ax_n)
    size_mm = (planes[0].shape[1] * float(reference.spacing[h]), planes[0].shape[0] * float(reference.spacing[v]))
    return _draw(
        reference,
        ax_n,
        idx,
        planes,
        diffs,
        list(names),
        (lo, hi),
        max(dmax, 1e-12),
        _score_lookup(scores),
        title,
        Path(path),
        size_mm,
        overwrite,
    )


def slice_profile_plot(
    result: Mapping[str, Any],
    path: str | Path,
    *,
    spacing_mm: float | None = None,
    title: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Per-slice PSNR along the upsampled axis, one line per prediction.

    ``result`` is :func:`medsr.evaluation.evaluate`'s output, or ``{name: sequence of dB}``.
    The x axis is in mm when the spacing is known (from ``result`` or ``spacing_mm``).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    overall: dict[str, float] = {}
    if "predictions" in result:
        profiles = {k: v["slice_profile"] for k, v in result["predictions"].items()}
        overall = {k: v["psnr"] for k, v in result["predictions"].items() if v.get("psnr") is not None}
        axis = int(result.get("slice_axis", 2))
        spacing_mm = spacing_mm or float(result.get("reference", {}).get("spacing", [1, 1, 1])[axis])
        label = f"position along {'XYZ'[axis]} (mm)"
    else:
        profiles, label = dict(result), "slice position (mm)" if spacing_mm else "slice index"
    if not profiles:
        raise ConfigError(None, "no slice profiles to plot", "evaluate at least one prediction")
    fig = Figure(figsize=(7.0, 3.2), dpi=150, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, vals in profiles.items():
        y = np.array([np.nan if v is None else v for v in vals], dtype=np.float64)
        x = np.arange(y.size) * (spacing_mm or 1.0)
        total = overall.get(name)
        ax.plot(x, y, lw=1.2, label=name if total is None else f"{name} (PSNR {total:.2f} dB)")
    ax.set_xlabel(label)
    ax.set_ylabel("PSNR per slice (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, Path(path), overwrite)


# -- helpers ---------------------------------------------------------------------------------
def _slicing_axis(
    reference: Image, predictions: Sequence[Image], axis: int | None, factors: Sequence[float] | None
) -> int:
    if reference.is_2d:
        return 2
    if axis is not None:
        if axis not in (0, 1, 2):
            raise ConfigError(None, f"axis {axis} is not 0, 1 or 2", "give 0 (X), 1 (Y) or 2 (Z)")
        return int(axis)
    f = factors
    if f is None:
        for img in predictions:
            for rec in reversed(img.meta.history):
                if rec.get("factors") is not None:
                    f = rec["factors"]
                    break
            if f is not None:
                break
    if f is not None and len(f) >= 3 and max(f) > 1:
        up = int(np.argmax(f))
    else:
        sp = reference.spacing
        up = int(np.argmax(sp)) if sp.max() > sp.min() * (1 + 1e-6) else 2
    return [a for a in (1, 0, 2) if a != up][0]


def _plane_axes(image: Image, axis: int) -> tuple[int, int]:
    """The array axes drawn horizontally and vertically when slicing along ``axis``."""
    if image.is_2d:
        return 0, 1
    h, v = [a for a in range(3) if a != axis]
    return h, v


def _absdiff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``|a - b|``, averaged over colour channels (last axis) for RGB planes."""
    d = np.abs(a - b)
    return d if d.ndim == 2 else d.mean(axis=-1)


def _plane(image: Image, axis: int, idx: int) -> np.ndarray:
    """The displayed plane ``(rows, cols)`` (``(rows, cols, 3)`` for RGB): rows run top to
    bottom, cols left to right; other multi-channel images are averaged."""
    if image.channels == 3 and (image.meta.rgb or image.meta.modality in ("XC", "SM")):
        data = np.moveaxis(image.data, 0, -1)  # (X, Y, Z, 3)
    else:
        data = image.data.mean(axis=0) if image.channels > 1 else image.data[0]
    plane = np.take(data, idx, axis=axis).astype(np.float64)  # (h, v[, 3]): the other axes in order
    h, v = _plane_axes(image, axis)
    d = image.direction
    out = np.swapaxes(plane, 0, 1)  # rows = v
    cv = int(np.argmax(np.abs(d[:, v])))
    if d[cv, v] * _UP_SIGN[cv] > 0:  # index grows upwards: draw the last row on top
        out = out[::-1]
    ch = int(np.argmax(np.abs(d[:, h])))
    if d[ch, h] < 0:
        out = out[:, ::-1]
    return out


def _box(plane: np.ndarray, threshold: float, margin: float = 0.06) -> tuple[slice, slice]:
    """Rows and columns of the bounding box of ``plane > threshold``, widened by ``margin``."""
    rows, cols = np.nonzero(plane > threshold)
    if rows.size == 0:
        return slice(None), slice(None)
    out = []
    for lo, hi, n in ((rows.min(), rows.max(), plane.shape[0]), (cols.min(), cols.max(), plane.shape[1])):
        pad = int(np.ceil(margin * n))
        out.append(slice(max(0, lo - pad), min(n, hi + pad + 1)))
    return out[0], out[1]


def _window(reference: Image) -> tuple[float, float]:
    lo, hi = np.percentile(reference.data, [0.1, 99.9])
    return float(lo), float(hi) if hi > lo else float(lo) + 1.0


def _score_lookup(scores: Mapping[str, Any] | None) -> dict[str, dict]:
    if not scores:
        return {}
    table = scores.get("predictions", scores)
    return {str(k): dict(v) for k, v in table.items() if isinstance(v, Mapping)}


def _draw(
    reference: Image,
    axis: int,
    idx: int,
    planes: list[np.ndarray],
    diffs: list[np.ndarray],
    names: list[str],
    window: tuple[float, float],
    dmax: float,
    scores: dict[str, dict],
    title: str | None,
    path: Path,
    size_mm: tuple[float, float],
    overwrite: bool = False,
) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width_mm, height_mm = size_mm
    ncol = len(planes)
    panel_w = 2.6
    panel_h = float(np.clip(panel_w * height_mm / width_mm, 0.8, 6.0))
    fig = Figure(figsize=(panel_w * ncol + 1.2, 2 * panel_h + 1.1), dpi=150, layout="constrained", facecolor="white")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, ncol, squeeze=False)
    ext = (0.0, width_mm, height_mm, 0.0)
    img_kw: dict[str, Any] = dict(extent=ext, interpolation="nearest")
    if planes[0].ndim == 2:
        img_kw.update(cmap="gray", vmin=window[0], vmax=window[1])
    rgb = planes[0].ndim == 3
    for c, plane in enumerate(planes):
        if rgb:  # colour: the window maps to 0…1 on every channel
            plane = np.clip((plane - window[0]) / (window[1] - window[0]), 0.0, 1.0)
        im = axes[0, c].imshow(plane, **img_kw)
        axes[0, c].set_title(_panel_title("reference" if c == 0 else names[c - 1], scores), fontsize=9)
    for c, diff in enumerate(diffs, start=1):
        dm = axes[1, c].imshow(diff, cmap="inferno", vmin=0.0, vmax=dmax, extent=ext, interpolation="nearest")
        rmse = float(np.sqrt(np.mean(diff**2)))
        axes[1, c].set_title(f"|{names[c - 1]} − reference|\nslice RMSE {rmse:.3g}", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[1, 0].axis("off")
    axes[1, 0].text(
        0.5, 0.5, _caption(reference, axis, idx), ha="center", va="center", fontsize=8, transform=axes[1, 0].transAxes
    )
    _scale_bar(axes[0, 0], width_mm, height_mm)
    if not rgb:
        fig.colorbar(im, ax=axes[0, :].tolist(), shrink=0.9, label=reference.meta.units, pad=0.01)
    if diffs:
        fig.colorbar(dm, ax=axes[1, :].tolist(), shrink=0.9, label=f"|difference| ({reference.meta.units})", pad=0.01)
    if title:
        fig.suptitle(title, fontsize=11)
    return _save(fig, path, overwrite)


def _panel_title(name: str, scores: dict[str, dict]) -> str:
    s = scores.get(name, {})
    parts = []
    if s.get("psnr") is not None:
        parts.append(f"PSNR {s['psnr']:.2f} dB")
    if s.get("ssim") is not None:
        parts.append(f"SSIM {s['ssim']:.4f}")
    seg = s.get("segmentation") or {}
    if seg.get("dice") is not None:
        parts.append(f"Dice {seg['dice']:.3f}")
    return name + ("\n" + " · ".join(parts) if parts else "\n ")


def _caption(reference: Image, axis: int, idx: int) -> str:
    if reference.is_2d:
        sp = "×".join(f"{s:.3g}" for s in reference.spacing[:2])
        return f"2D image\n{reference.shape[0]}×{reference.shape[1]} pixels\nreference spacing\n{sp} mm"
    plane = ("sagittal", "coronal", "axial")[axis]
    sp = "×".join(f"{s:.3g}" for s in reference.spacing)
    return f"{plane} slice {idx} of {reference.shape[axis]}\n(along {'XYZ'[axis]})\nreference spacing\n{sp} mm"


def _scale_bar(ax: Any, width_mm: float, height_mm: float) -> None:
    target = max(width_mm / 3.0, 1e-6)  # the largest 1-2-5 length within a third of the width
    decade = 10.0 ** np.floor(np.log10(target))
    length = max(m * decade for m in (1.0, 2.0, 5.0) if m * decade <= target)
    x0, y0 = 0.05 * width_mm, 0.94 * height_mm
    ax.plot([x0, x0 + length], [y0, y0], color="yellow", lw=2)
    ax.text(
        x0 + length / 2, y0 - 0.02 * height_mm, f"{length:g} mm", color="yellow", ha="center", va="bottom", fontsize=7
    )


def _save(fig: Any, path: Path, overwrite: bool) -> Path:
    """Save ``fig`` as PNG through the one atomic writer (:mod:`medsr.io.atomic`)."""
    from medsr.io.atomic import Staging

    with Staging(overwrite=overwrite) as stage:
        tmp = stage.path_for(path)
        fig.savefig(
            tmp, format="png", facecolor="white", bbox_inches="tight", pad_inches=0.08, metadata={"Software": "medsr"}
        )
    return Path(path).absolute()


def _check_image(image: Any) -> None:
    if not isinstance(image, Image):
        raise InvalidImageError(None, f"expected an Image, got {type(image).__name__}", "read the file first")
