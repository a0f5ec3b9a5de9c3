"""The text parts of the enhance report: the run's record as HTML (key-value rows, the slice
profile against a rect, the expected-error calibration and trust line, the run summary).

Example:
    >>> kv_rows({"steps": 400, "loss": 0.012345})
    '<tr><th>steps</th><td>400</td></tr><tr><th>loss</th><td>0.01235</td></tr>'
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from medsr.report.svg import line_chart


def kv_rows(d: dict[str, Any]) -> str:
    out = []
    for k, v in d.items():
        if isinstance(v, float):
            v = f"{v:.4g}"
        out.append(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>")
    return "".join(out)


def profile_section(info: dict[str, Any]) -> str:
    """The slice profile used (estimated or given) against a rect of the nominal thickness."""
    est = info.get("profile_estimate")
    spacing = (info.get("input_spacing_mm") or [1.0, 1.0, 1.0])[
        int(np.argmax(info.get("input_spacing_mm") or [1, 1, 1]))
    ]
    if not est:
        prof = info.get("profile") or {}
        kind = html.escape(str(prof.get("kind", "?")))
        return f'<p class="note">given: {kind}, {prof.get("thickness_mm", 0):.3g} mm</p>'
    off, w = est["kernel_mm"]
    nominal = est.get("nominal_thickness_mm") or spacing
    rect = [(-nominal / 2, 0.0), (-nominal / 2, 1.0), (nominal / 2, 1.0), (nominal / 2, 0.0)]
    chart = line_chart(
        list(zip(off, w, strict=True)),
        x_label="offset from the slice centre (mm)",
        y_label="sensitivity",
        more=[(rect, "#06c")],
    )
    return (
        f'{chart}<p class="note">estimated from the scan (orange): {html.escape(est["shape"])}, FWHM '
        f"{est['fwhm_mm']:.3g} mm at {est['spacing_mm']:.3g} mm spacing, confidence {est['confidence']:.2f}; "
        f"blue, dashed: a rect of the nominal thickness {nominal:.3g} mm"
        f"{'' if est.get('nominal_thickness_mm') else ' (no header thickness: the spacing)'}. "
        f"{_DECISIONS.get(str(est.get('decision')), '')}</p>"
    )


_DECISIONS = {
    "used": "Used for the training pairs and data consistency (overlapping slices).",
    "narrowed": "Used, narrowed so that data consistency does not amplify the noise more than twice.",
    "rect": "Not used: no overlap found, so the rect of the nominal thickness was (docs/enhance.md).",
    "unsure": "Not used: too low a confidence, so the rect of the nominal thickness was.",
}


def calibration_section(info: dict[str, Any]) -> str:
    """Predicted against observed mean |error| per decile on the held-out planes, and the trust summary."""
    unc = info.get("uncertainty") or {}
    model = (unc.get("calibration") or {}).get("model") or {}
    trust = unc.get("trust") or {}
    units = html.escape(str(trust.get("units") or unc.get("units") or ""))
    lines = []
    if trust:
        lines.append(
            f"{trust['unsure_fraction']:.1%} of the foreground is expected to be off by more than "
            f"{trust['threshold']:.4g} {units} ({html.escape(str(trust.get('rule', '')))})."
        )
    rows = model.get("deciles") or []
    if not rows:
        return f'<p class="note">{" ".join(lines)} The map is not calibrated (too little held out).</p>'
    pts = [(float(r["predicted"]), float(r["observed"])) for r in rows]
    top = max(max(p) for p in pts)
    chart = line_chart(
        pts,
        x_label=f"predicted mean |error| ({units})",
        y_label=f"observed ({units})",
        more=[([(0, 0), (top, top)], "#06c")],
    )
    lines.append(
        f"Per decile of the map on held-out planes (orange) against the identity (blue, dashed); the 90 % "
        f"interval covered {model.get('coverage_90', float('nan')):.0%} of their voxels."
    )
    return f'{chart}<p class="note">{" ".join(lines)}</p>'


def run_summary(info: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "thick_axis",
        "input_spacing_mm",
        "output_spacing_mm",
        "factors",
        "input_slice_thickness_mm",
        "thickness_assumed",
        "gap_mm",
        "profile",
        "output_shape",
        "seed",
        "threads",
    )
    out = {k: info[k] for k in keys if k in info}
    if isinstance(out.get("profile"), dict):
        out["profile"] = out["profile"].get("kind", "")
    net = info.get("network") or {}
    if net:
        out["network"] = f"{net.get('name', '')} ({net.get('parameters', '?')} parameters, init {net.get('init', '?')})"
    train = info.get("training") or {}
    if train:
        out["training"] = f"{train.get('steps', '?')} steps, {train.get('precision', '?')}, {train.get('device', '?')}"
    return out
