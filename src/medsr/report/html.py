"""A self-contained HTML report of one enhancement: no server, no network, one file.

It shows the input, the cubic B-spline result and medsr side by side in a through-plane view
(a plane that contains the thick axis) with a slice slider, a zoomed inset that follows a click,
the expected-error map (also as an adjustable overlay on medsr), its calibration curve and trust
summary, the training loss curve, the timings and the data-consistency figures.
Images are embedded as base64 PNG; the page needs no script or style from outside.

Example:
    >>> from medsr.report.html import enhance_report   # doctest: +SKIP
    >>> enhance_report("report/", lr=lr, bspline=bs, sr=result.image,
    ...                uncertainty=result.uncertainty, info=result.info)  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medsr.image import Image
from medsr.report.sections import calibration_section, kv_rows, profile_section, run_summary
from medsr.report.svg import line_chart

PANELS = (
    ("input", "Input (thick slices)"),
    ("bspline", "Cubic B-spline"),
    ("medsr", "medsr"),
    ("uncertainty", "Expected |error|"),
)


def _png(plane: np.ndarray, lo: float, hi: float, cmap: str = "gray") -> str:
    """A 2D array (rows, cols) → base64 PNG data URI, windowed to [lo, hi]."""
    from matplotlib import colormaps
    from PIL import Image as PILImage

    x = np.clip((plane - lo) / max(hi - lo, 1e-12), 0, 1)
    if cmap == "gray" or x.ndim == 3:  # grey, or a colour photograph as it is
        rgb = (x * 255 + 0.5).astype(np.uint8)
    else:
        rgb = (colormaps[cmap](x)[..., :3] * 255 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    PILImage.fromarray(rgb).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _plane(img: Image, slide_axis: int, index: int, thick_axis: int) -> np.ndarray:
    """The plane at ``index`` along ``slide_axis`` as (rows = thick axis, superior up; cols); a
    2D image as it is displayed (rows = Y, cols = X; colour kept)."""
    if img.is_2d:
        return np.moveaxis(img.data[..., 0], 0, -1).swapaxes(0, 1) if img.meta.rgb else img.data[0, :, :, 0].T
    vol = img.data.mean(axis=0) if img.channels > 1 else img.data[0]
    plane = np.take(vol, index, axis=slide_axis)  # 2D: the two remaining axes in order
    rest = [a for a in range(3) if a != slide_axis]
    if rest[1] == thick_axis:
        plane = plane.T  # rows = thick axis, cols = the other in-plane axis
    return plane[::-1]  # largest index of the thick axis on top (superior for LPS z)


def _lr_on_grid(lr: Image, sr: Image, thick_axis: int) -> Image:
    """The input shown on the output grid by nearest neighbour: honest thick slices.

    Both grids share the field of view, so output voxel k (centre ``(k + 1/2) s_hr`` from the
    FOV edge) falls in input slice ``floor((k + 1/2) s_hr / s_lr)``.
    """
    data = lr.data
    for axis in (0, 1) if sr.is_2d else (thick_axis,):  # a 2D image: both axes
        n_hr, n_lr = sr.shape[axis], lr.shape[axis]
        pos = (np.arange(n_hr) + 0.5) * sr.spacing[axis]
        pick = np.clip(np.floor(pos / lr.spacing[axis]).astype(int), 0, n_lr - 1)
        data = np.take(data, pick, axis=axis + 1)
    return sr.with_data(data)


def _window(sr: Image) -> tuple[float, float]:
    vals = sr.data[:, ::2, ::2, ::2].ravel()
    if sr.meta.units == "HU":
        return -1000.0, 400.0
    lo, hi = np.percentile(vals, [0.5, 99.5])
    return float(lo), float(hi)


def _slices(n: int, count: int) -> list[int]:
    count = max(1, min(count, n))
    return sorted(set(int(round(v)) for v in np.linspace(n * 0.15, n * 0.85 - 1, count)))


def _frames(
    lr: Image, bspline: Image, sr: Image, unc: Image | None, thick_axis: int, n_slices: int
) -> tuple[list[dict[str, str]], list[int], int, float]:
    slide_axis = 1 if thick_axis != 1 else 0  # coronal-like planes for an axial (Z-thick) scan
    if sr.is_2d:
        return _views_2d(lr, bspline, sr, unc)
    lo, hi = _window(sr)
    u_hi = float(np.percentile(unc.data, 99.5)) if unc is not None else 1.0
    shown = {"input": _lr_on_grid(lr, sr, thick_axis), "bspline": bspline, "medsr": sr}
    frames = []
    indices = _slices(sr.shape[slide_axis], n_slices)
    for i in indices:
        frame = {k: _png(_plane(im, slide_axis, i, thick_axis), lo, hi) for k, im in shown.items()}
        if unc is not None:
            frame["uncertainty"] = _png(_plane(unc, slide_axis, i, thick_axis), 0.0, max(u_hi, 1e-6), "magma")
        frames.append(frame)
    return frames, indices, slide_axis, u_hi


#: Longest side (pixels) of a 2D report's whole view, and the edge of its native-resolution insets.
WHOLE_PX, INSET_PX = 1536, 320


def _views_2d(
    lr: Image, bspline: Image, sr: Image, unc: Image | None
) -> tuple[list[dict[str, str]], list[int], int, float]:
    """A 2D image's "slider": the whole image (strided to :data:`WHOLE_PX`), then insets (about
    :data:`INSET_PX` at the output's own resolution) where medsr departs most from the B-spline,
    and the centre."""
    lo, hi = _window(sr)
    shown = {"input": _lr_on_grid(lr, sr, 0), "bspline": bspline, "medsr": sr}
    if unc is not None:
        shown["uncertainty"] = unc.with_data(unc.data.max(axis=0, keepdims=True), rgb=False)
    planes = {k: _plane(im, 2, 0, 0) for k, im in shown.items()}
    u_hi = float(np.percentile(planes["uncertainty"], 99.5)) if unc is not None else 1.0
    rows, cols = planes["medsr"].shape[:2]
    step = max(1, int(np.ceil(max(rows, cols) / WHOLE_PX)))
    views = [(slice(None, None, step), slice(None, None, step))]
    diff = np.abs(planes["medsr"] - planes["bspline"])
    diff = diff.mean(axis=-1) if diff.ndim == 3 else diff
    k = max(1, max(rows, cols) // INSET_PX)  # insets: 1/k of each side, the whole view's aspect
    er, ec = rows // k, cols // k
    coarse = diff[: er * k, : ec * k].reshape(k, er, k, ec).mean((1, 3))
    for flat in np.argsort(coarse.ravel())[::-1][: min(2, k * k - 1)]:
        r, c = np.unravel_index(int(flat), coarse.shape)
        views.append((slice(r * er, (r + 1) * er), slice(c * ec, (c + 1) * ec)))
    r0, c0 = (rows - er) // 2, (cols - ec) // 2
    views.append((slice(r0, r0 + er), slice(c0, c0 + ec)))
    frames = []
    for view in views:
        frame = {k: _png(p[view], lo, hi) for k, p in planes.items() if k != "uncertainty"}
        if unc is not None:
            frame["uncertainty"] = _png(planes["uncertainty"][view], 0.0, max(u_hi, 1e-6), "magma")
        frames.append(frame)
    return frames, list(range(len(frames))), 2, u_hi


def _aspect(sr: Image, slide_axis: int, thick_axis: int) -> float:
    if sr.is_2d:  # rows = Y, cols = X
        return float(sr.shape[1] * sr.spacing[1] / (sr.shape[0] * sr.spacing[0]))
    other = next(a for a in range(3) if a not in (slide_axis, thick_axis))
    rows = sr.shape[thick_axis] * sr.spacing[thick_axis]
    cols = sr.shape[other] * sr.spacing[other]
    return float(rows / cols)


def enhance_report(
    out_dir: str | Path,
    *,
    lr: Image,
    bspline: Image,
    sr: Image,
    uncertainty: Image | None,
    info: dict[str, Any],
    loss_curve: Sequence[Sequence[float]] | None = None,
    n_slices: int = 24,
    title: str = "medsr enhance report",
    overwrite: bool = False,
) -> Path:
    """Write ``out_dir/report.html`` and return its path.

    Args:
        lr: the input; bspline, sr, uncertainty: images on the output grid.
        info: the sidecar dict (timings, data consistency, plan, network …).
        loss_curve: (step, loss) pairs of the training run.
        n_slices: how many planes the slider offers.
        overwrite: replace an existing ``report.html`` (never an input).
    """
    from medsr.io.atomic import Staging, check_not_input, check_output

    thick = info.get("thick_axis", int(np.argmax(lr.spacing)))
    thick_axis = "XYZ".index(thick) if isinstance(thick, str) else int(thick)
    frames, indices, slide_axis, u_hi = _frames(lr, bspline, sr, uncertainty, thick_axis, n_slices)
    curve = loss_curve if loss_curve is not None else info.get("loss_curve") or []
    page = _render(title, frames, indices, slide_axis, _aspect(sr, slide_axis, thick_axis), info, curve, u_hi)
    out = Path(out_dir).absolute()
    check_not_input(out)
    if out.parent.is_dir():
        out.mkdir(exist_ok=True)
    path = check_output(out / "report.html", overwrite=overwrite)
    with Staging(overwrite=overwrite) as stage:
        stage.path_for(path, checked=True).write_text(page, encoding="utf-8")
    return path


def _render(
    title: str,
    frames: list[dict[str, str]],
    indices: list[int],
    slide_axis: int,
    aspect: float,
    info: dict[str, Any],
    curve: Sequence[Sequence[float]],
    u_hi: float,
) -> str:
    panels = [(k, label) for k, label in PANELS if k in frames[0]]
    axis_name = "XYZ"[slide_axis]
    timings = info.get("timings_s") or info.get("timings") or {}
    dc = info.get("data_consistency") or {}
    profile_html = profile_section(info)
    loss_svg = (
        line_chart([(float(s), float(v)) for s, v in curve], x_label="step", y_label="training loss", log_y=True)
        if len(curve) > 1
        else "<p>No training curve recorded.</p>"
    )
    cells = "".join(
        f"<figure><figcaption>{html.escape(label)}</figcaption>"
        f'<div class="view" style="aspect-ratio:{1 / aspect:.4f}"><img id="img-{k}" alt="{k}">'
        f"{_OVERLAY_IMG if k == 'medsr' else ''}</div>"
        f'<div class="zoom" id="zoom-{k}" title="4x zoom; click the panel above to move it"></div></figure>'
        for k, label in panels
    )
    data = json.dumps({"frames": frames, "indices": indices, "keys": [k for k, _ in panels]})
    info_json = html.escape(json.dumps(info, indent=1, default=str))
    return _TEMPLATE.format(
        title=html.escape(title),
        axis=axis_name,
        n=len(frames) - 1,
        mid=len(frames) // 2,
        cells=cells,
        data=data,
        loss=loss_svg,
        profile=profile_html,
        calibration=calibration_section(info),
        overlay="" if "uncertainty" not in frames[0] else _OVERLAY,
        u_hi=f"{u_hi:.4g}",
        timings=kv_rows(timings),
        dc=kv_rows(dc),
        summary=kv_rows(run_summary(info)),
        info=info_json,
    )


_OVERLAY_IMG = '<img class="overlay" id="ov-medsr" alt="expected error overlay">'
_OVERLAY = (
    '<div class="controls">Overlay the expected error on medsr: '
    '<input type="range" id="overlay" min="0" max="100" value="0" style="width:30%"></div>'
)

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:1.2em;background:#fafafa;color:#222}}
h1{{font-size:1.4em;margin:.2em 0}} h2{{font-size:1.1em;margin:1.2em 0 .4em}}
.grid{{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:10px}}
figure{{margin:0;background:#111;border-radius:6px;padding:6px}} figcaption{{color:#eee;font-size:.9em;margin-bottom:4px}}
.view,.zoom{{width:100%;overflow:hidden;position:relative;background:#000;cursor:crosshair}}
.view img{{width:100%;height:100%;display:block;image-rendering:auto}}
.view img.overlay{{position:absolute;left:0;top:0;opacity:0;mix-blend-mode:screen;pointer-events:none}}
.zoom{{margin-top:6px;border-top:2px solid #e94;aspect-ratio:1.6;background-repeat:no-repeat;background-size:400% auto;image-rendering:pixelated}}
.controls{{margin:.6em 0}} input[type=range]{{width:60%}}
table{{border-collapse:collapse;font-size:.9em}} th,td{{text-align:left;padding:2px 10px;border-bottom:1px solid #ddd}}
.cols{{display:flex;flex-wrap:wrap;gap:2em}} pre{{max-height:24em;overflow:auto;background:#fff;border:1px solid #ddd;padding:.6em}}
.note{{color:#666;font-size:.85em}}
</style></head><body>
<h1>{title}</h1>
<p class="note">Through-plane view (planes across the thick axis). Click a panel to move the 4× zoom. Research use, not diagnosis.</p>
<div class="controls">Slice along {axis}: <input type="range" id="slider" min="0" max="{n}" value="{mid}"> <span id="label"></span></div>
{overlay}<div class="grid">{cells}</div>
<div class="cols">
<div><h2>Training loss</h2>{loss}</div>
<div><h2>Slice profile</h2>{profile}</div>
<div><h2>Uncertainty calibration</h2>{calibration}</div>
<div><h2>Data consistency</h2><table>{dc}</table>
<p class="note">Relative error between the input and the output degraded again with the assumed slice profile.</p>
<p class="note">Expected |error| per voxel (calibrated on held-out planes), shown from 0 (black) to its 99.5th percentile, {u_hi} (yellow), in image units.</p>
<h2>Timings (s)</h2><table>{timings}</table></div>
<div><h2>Plan</h2><table>{summary}</table></div>
</div>
<h2>Everything recorded (sidecar)</h2><details><summary>show</summary><pre>{info}</pre></details>
<script>
const D = {data};
let zx = 0.5, zy = 0.5;
function show(i) {{
  const f = D.frames[i];
  document.getElementById('label').textContent = 'index ' + D.indices[i];
  for (const k of D.keys) {{
    document.getElementById('img-' + k).src = f[k];
    if (k === 'uncertainty' && document.getElementById('ov-medsr')) document.getElementById('ov-medsr').src = f[k];
    const z = document.getElementById('zoom-' + k);
    z.style.backgroundImage = 'url(' + f[k] + ')';
    z.style.backgroundPosition = (zx * 100) + '% ' + (zy * 100) + '%';
  }}
}}
const slider = document.getElementById('slider');
slider.addEventListener('input', () => show(+slider.value));
for (const el of document.querySelectorAll('.view')) {{
  el.addEventListener('click', (e) => {{
    const r = el.getBoundingClientRect();
    zx = (e.clientX - r.left) / r.width; zy = (e.clientY - r.top) / r.height; show(+slider.value);
  }});
}}
const ov = document.getElementById('overlay');
if (ov) ov.addEventListener('input', () => {{ document.getElementById('ov-medsr').style.opacity = ov.value / 100; }});
show(+slider.value);
</script>
</body></html>
"""
