"""The impact page (``/reports/impact?from=&to=&region=``) and, for a browser session,
the one-page HTML report and the CSV the API serves under ``/v1/reports`` (a session
cookie does not open ``/v1``, which wants a bearer token).

The figures are :func:`cloud_bridge.views.impact.impact_report`'s, the daily series
:func:`~cloud_bridge.views.impact.impact_series`'s; the charts are SVG drawn on the
server (:mod:`cloud_bridge.web.charts`), so the page needs no inline script under the
CSP. Without ``from`` and ``to`` the page shows the 30 days up to today.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cloud_bridge.errors import SettingsError
from cloud_bridge.views.exports import parse_when
from cloud_bridge.views.impact import impact_csv, impact_report, impact_series, load_factor_set
from cloud_bridge.views.report_html import COLOURS, render_html
from cloud_bridge.web.charts import daily_bars, disposition_bars
from cloud_bridge.web.context import Dashboard, _viewer

DEFAULT_DAYS = 30
"""The period shown when the page is opened without ``from`` and ``to``."""
MAX_DAYS = 366
"""The longest period the page draws day by day (a longer one shows no daily chart)."""
REGION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
"""The API's region pattern."""

router = APIRouter(include_in_schema=False)


class QueryError(ValueError):
    """A query value the page cannot use; ``field`` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def period(
    params: dict[str, str], today: datetime
) -> tuple[datetime, datetime, str | None, dict[str, str]]:
    """The range and region of the query (the last 30 days by default), and the query
    as it should be repeated in links."""
    since_text = params.get("from", "").strip()
    until_text = params.get("to", "").strip()
    if not since_text and not until_text:
        end = today.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        since, until = end - timedelta(days=DEFAULT_DAYS), end
        since_text = f"{since:%Y-%m-%d}"
        until_text = f"{until - timedelta(days=1):%Y-%m-%d}"
    else:
        bounds = []
        for name, text, end_of in (("from", since_text, False), ("to", until_text, True)):
            if not text:
                raise QueryError(f"{name}: give both 'from' and 'to', or neither", name)
            try:
                bounds.append(parse_when(text, end=end_of))
            except ValueError as err:
                raise QueryError(f"{name}: {err}", name) from None
        since, until = bounds
        if since >= until:
            raise QueryError("to: must be after 'from'", "to")
    region = params.get("region", "").strip() or None
    if region is not None and REGION.fullmatch(region) is None:
        raise QueryError(f"region: {region!r} is not a region name", "region")
    query = {"from": since_text, "to": until_text, **({"region": region} if region else {})}
    return since, until, region, query


def _report(dashboard: Dashboard, since: datetime, until: datetime, region: str | None) -> Any:
    settings = dashboard.facilities
    factors = load_factor_set(settings.emission_factors)
    return impact_report(
        dashboard.read(), settings, factors, since=since, until=until, region=region
    )


def _prepare(request: Request) -> tuple[Dashboard, Any, Any, dict[str, Any]] | Response:
    """The viewer and the period of a report request, or the response that refuses it."""
    seen = _viewer(request, "reports:read")
    if isinstance(seen, Response):
        return seen
    dashboard, session, principal = seen
    try:
        since, until, region, query = period(dict(request.query_params), dashboard.clock())
    except QueryError as err:
        return dashboard.render(
            "impact.html.j2", 422, principal=principal, csrf=session.csrf, report=None,
            error=str(err), error_field=err.field, query=dict(request.query_params),
        )  # fmt: skip
    values = {"since": since, "until": until, "region": region, "query": query}
    return dashboard, session, principal, values


@router.get("/reports/impact")
def impact_page(request: Request) -> Response:
    """The period's figures, what each material became, and kg received per day."""
    prepared = _prepare(request)
    if isinstance(prepared, Response):
        return prepared
    dashboard, session, principal, values = prepared
    since, until, region = values["since"], values["until"], values["region"]
    try:
        report = _report(dashboard, since, until, region)
    except SettingsError as err:
        return dashboard.render(
            "error.html.j2", 500, title="No emission factors", message=str(err),
            principal=principal, csrf=session.csrf,
        )  # fmt: skip
    series: list[dict[str, Any]] = []
    if until - since <= timedelta(days=MAX_DAYS):
        series = impact_series(
            dashboard.read(),
            dashboard.facilities,
            load_factor_set(dashboard.facilities.emission_factors),
            since=since,
            until=until,
            region=region,
        )
    link = urlencode(values["query"])
    return dashboard.render(
        "impact.html.j2",
        principal=principal,
        csrf=session.csrf,
        report=report,
        error=None,
        error_field=None,
        query=values["query"],
        materials_chart=disposition_bars(report),
        daily_chart=daily_bars(series) if series else None,
        colours=list(COLOURS.items()),
        html_link=f"/reports/impact.html?{link}",
        csv_link=f"/reports/impact.csv?{link}",
    )


@router.get("/reports/impact.html")
def impact_html(request: Request) -> Response:
    """The one-page report (the API's ``/v1/reports/impact.html``) for a signed-in browser."""
    prepared = _prepare(request)
    if isinstance(prepared, Response):
        return prepared
    dashboard, _, _, values = prepared
    report = _report(dashboard, values["since"], values["until"], values["region"])
    page = render_html(report, generated=dashboard.clock())
    return Response(page, media_type="text/html", headers={"Cache-Control": "no-store"})


@router.get("/reports/impact.csv")
def impact_as_csv(request: Request) -> Response:
    """The report as CSV (the API's ``/v1/reports/impact.csv``) for a signed-in browser."""
    prepared = _prepare(request)
    if isinstance(prepared, Response):
        return prepared
    dashboard, _, _, values = prepared
    report = _report(dashboard, values["since"], values["until"], values["region"])
    return Response(
        impact_csv(report),
        media_type="text/csv",
        headers={
            "Content-Disposition": 'attachment; filename="impact.csv"',
            "Cache-Control": "no-store",
        },
    )


__all__ = ["QueryError", "period", "router"]
