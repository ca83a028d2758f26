"""The impact report as one self-contained HTML page a manager can forward (or print
to PDF from a browser): headline figures, a chart of what each material became, the
table per material, and the sources of the emission factors.

Rendered with Jinja2 (autoescaped) from the JSON report of
:func:`cloud_bridge.views.impact.impact_report`; the chart is inline SVG drawn here, so
the page needs no network, no script and no plotting library.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from cloud_bridge.config.facilities import DISPOSITIONS
from protocol import format_ts, parse_ts

COLOURS: dict[str, str] = {
    "reuse": "#2f9e44",
    "repair": "#74b816",
    "recycle": "#1c7ed6",
    "recover": "#f59f00",
    "dispose": "#868e96",
    "pending": "#dee2e6",
}
"""One colour per disposition, best (green) to worst (grey); pending is pale."""

_environment = Environment(
    loader=PackageLoader("cloud_bridge.views", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _kg(value: float) -> str:
    return f"{value / 1000:.2f} t" if abs(value) >= 1000 else f"{value:.1f} kg"


def _co2(value: float) -> str:
    return f"{value / 1000:.2f} t CO2e" if abs(value) >= 1000 else f"{value:.1f} kg CO2e"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} %"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def bar_chart(report: dict[str, Any], width: int = 640, row_height: int = 22) -> str:
    """Horizontal bars, one per material: received kg split by disposition (and pending)."""
    rows = report["materials"]
    if not rows:
        return '<p class="sub">Nothing was received in this period.</p>'
    label_w, pad = 90, 4
    most = max((m["kg_received"] for m in rows), default=0.0) or 1.0
    scale = (width - label_w - 70) / most
    height = len(rows) * row_height + pad * 2
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="kg received per material, '
        'by what it became">'
    ]
    for index, material in enumerate(rows):
        y = pad + index * row_height
        parts.append(
            f'<text x="0" y="{y + 15}" font-size="11">{escape(material["material"])}</text>'
        )
        x = float(label_w)
        segments = [(d, material["kg_by_disposition"][d]) for d in DISPOSITIONS]
        segments.append(("pending", material["kg_pending"]))
        for name, kg in segments:
            w = kg * scale
            if w <= 0:
                continue
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_height - 6}" '
                f'fill="{COLOURS[name]}"><title>{escape(name)}: {kg:.1f} kg</title></rect>'
            )
            x += w
        parts.append(
            f'<text x="{x + 4:.1f}" y="{y + 15}" font-size="10" fill="#52606d">'
            f"{_kg(material['kg_received'])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: dict[str, Any], *, generated: datetime, title: str | None = None) -> str:
    """The one-page report of ``report`` (a dict from ``impact_report``)."""
    since, until = parse_ts(report["from"]), parse_ts(report["to"])
    period = f"{since:%d %b %Y} to {until:%d %b %Y} (end exclusive, UTC)"
    template = _environment.get_template("impact_report.html.j2")
    return template.render(
        title=title or f"Revloop impact report, {since:%B %Y}",
        period=period,
        report=report,
        chart=bar_chart(report),
        colours=list(COLOURS.items()),
        dispositions=DISPOSITIONS,
        generated=format_ts(generated),
        kg=_kg,
        co2=_co2,
        pct=_pct,
        num=_num,
    )
