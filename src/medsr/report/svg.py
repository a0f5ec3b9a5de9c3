"""Tiny inline SVG charts for the HTML report (no matplotlib, no script)."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    if hi <= lo:
        return [lo]
    return [lo + (hi - lo) * i / n for i in range(n + 1)]


def line_chart(
    points: Sequence[tuple[float, float]],
    *,
    x_label: str = "",
    y_label: str = "",
    log_y: bool = False,
    width: int = 420,
    height: int = 240,
    more: Sequence[tuple[Sequence[tuple[float, float]], str]] = (),
) -> str:
    """An SVG line chart of (x, y) points; ``log_y`` plots log10(y) for positive y; ``more`` adds
    further ``(points, colour)`` series (drawn dashed) on the same axes."""

    def clean(series: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        keep = [(x, y) for x, y in series if math.isfinite(x) and math.isfinite(y) and (y > 0 or not log_y)]
        return [(x, math.log10(y) if log_y else y) for x, y in keep]

    main = clean(points)
    if len(main) < 2:
        return "<p>not enough points to plot</p>"
    others = [(clean(s), c) for s, c in more]
    tx, ty = [p[0] for p in main], [p[1] for p in main]
    every = main + [p for s, _ in others for p in s]
    x0, x1 = min(p[0] for p in every), max(p[0] for p in every)
    y0, y1 = min(p[1] for p in every), max(p[1] for p in every)
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 0.5, y1 + 0.5
    m = {"l": 58, "r": 12, "t": 10, "b": 38}
    w, h = width - m["l"] - m["r"], height - m["t"] - m["b"]

    def sx(v: float) -> float:
        return m["l"] + (v - x0) / max(x1 - x0, 1e-12) * w

    def sy(v: float) -> float:
        return m["t"] + (1 - (v - y0) / (y1 - y0)) * h

    path = " ".join(f"{sx(a):.1f},{sy(b):.1f}" for a, b in zip(tx, ty, strict=False))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="11">',
        f'<rect x="{m["l"]}" y="{m["t"]}" width="{w}" height="{h}" fill="#fff" stroke="#999"/>',
    ]
    for v in _ticks(y0, y1):
        label = f"{10**v:.3g}" if log_y else f"{v:.3g}"
        parts.append(
            f'<line x1="{m["l"]}" x2="{m["l"] + w}" y1="{sy(v):.1f}" y2="{sy(v):.1f}" stroke="#eee"/>'
            f'<text x="{m["l"] - 4}" y="{sy(v) + 4:.1f}" text-anchor="end">{label}</text>'
        )
    for v in _ticks(x0, x1):
        parts.append(f'<text x="{sx(v):.1f}" y="{m["t"] + h + 14}" text-anchor="middle">{v:.4g}</text>')
    parts.append(f'<polyline fill="none" stroke="#c40" stroke-width="1.5" points="{path}"/>')
    for series, colour in others:
        pts = " ".join(f"{sx(a):.1f},{sy(b):.1f}" for a, b in series)
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-dasharray="4 3" stroke-width="1.2" points="{pts}"/>'
        )
    parts.append(f'<text x="{m["l"] + w / 2}" y="{height - 4}" text-anchor="middle">{html.escape(x_label)}</text>')
    parts.append(
        f'<text transform="translate(12,{m["t"] + h / 2}) rotate(-90)" text-anchor="middle">'
        f"{html.escape(y_label)}</text></svg>"
    )
    return "".join(parts)
