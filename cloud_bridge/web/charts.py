"""Charts for the dashboard's pages as SVG drawn on the server.

The CSP allows no inline script, and a chart of a few dozen bars needs none: the page
carries the SVG itself, every label escaped here, every bar with a ``<title>`` that
a browser shows on hover and a screen reader reads. The stacked bars per material
are the one-page report's (:func:`cloud_bridge.views.report_html.bar_chart`), so the
page and the report a manager forwards draw the same picture.
"""

from __future__ import annotations

from html import escape
from typing import Any

from markupsafe import Markup

from cloud_bridge.views.report_html import bar_chart


def disposition_bars(report: dict[str, Any]) -> Markup:
    """kg received per material, stacked by what it became (and what is pending)."""
    return Markup(bar_chart(report))  # bar_chart escapes every label


def _kg(value: float) -> str:
    return f"{value / 1000:.2f} t" if abs(value) >= 1000 else f"{value:.1f} kg"


def daily_bars(series: list[dict[str, Any]], width: int = 640, height: int = 180) -> Markup:
    """kg received per day of the series (:func:`cloud_bridge.views.impact.impact_series`),
    one bar a day, the largest labelled on the axis."""
    left, bottom, top = 56, 20, 8
    plot_w, plot_h = width - left - 4, height - bottom - top
    most = max((float(point["kg_received"]) for point in series), default=0.0)
    scale = plot_h / most if most > 0 else 0.0
    step = plot_w / max(1, len(series))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="kg received per day">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 4}" y2="{top + plot_h}" '
        'stroke="#9aa5b1"/>',
        f'<text x="{left - 4}" y="{top + 10}" font-size="10" text-anchor="end">'
        f"{escape(_kg(most))}</text>",
        f'<text x="{left - 4}" y="{top + plot_h}" font-size="10" text-anchor="end">0</text>',
    ]
    for index, point in enumerate(series):
        kg = float(point["kg_received"])
        day = str(point["from"])[:10]
        bar_h = kg * scale
        x = left + index * step
        parts.append(
            f'<rect class="day" data-day="{escape(day)}" x="{x + 1:.1f}" '
            f'y="{top + plot_h - bar_h:.1f}" width="{max(1.0, step - 2):.1f}" '
            f'height="{bar_h:.1f}" fill="#1c7ed6"><title>{escape(day)}: '
            f"{escape(_kg(kg))}</title></rect>"
        )
    if series:
        first, last = str(series[0]["from"])[:10], str(series[-1]["from"])[:10]
        parts.append(
            f'<text x="{left}" y="{height - 4}" font-size="10">{escape(first)}</text>'
            f'<text x="{width - 4}" y="{height - 4}" font-size="10" text-anchor="end">'
            f"{escape(last)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # every value above is escaped


__all__ = ["daily_bars", "disposition_bars"]
