"""The ``forecasts`` table in SQLite: each bin's latest forecast, replaced at every tick.

A mixin of :class:`~cloud_bridge.store.sqlite.store.SQLiteStore`; the API and
``bins --json`` read what the writer's tick saved.
"""

from __future__ import annotations

from typing import Any

from cloud_bridge.domain.forecast import Forecast
from cloud_bridge.store.sqlite.connection import Connection
from cloud_bridge.store.sqlite.timestamps import dt as _dt
from cloud_bridge.store.sqlite.timestamps import fmt as _fmt
from cloud_bridge.store.sqlite.timestamps import ts as _ts
from protocol import parse_ts

_FORECAST_COLUMNS = (
    "bin_id, computed_at, method, points, full_pct, predicted_full_at, low, high, "
    "rate_pct_per_h, level_pct, span_hours"
)


def _forecast(row: Any) -> Forecast:
    _, computed, method, points, full, at, lo, hi, rate, level, span = row
    return Forecast(
        predicted_full_at=_dt(at),
        low=_dt(lo),
        high=_dt(hi),
        rate_pct_per_h=rate,
        level_pct=level,
        method=method,
        points=points,
        computed_at=parse_ts(computed),
        full_pct=full,
        span_hours=span,
    )


class ForecastTableMixin:
    """SQL of the ``forecasts`` table."""

    _db: Connection

    def save_forecast(self, bin_id: str, forecast: Forecast) -> None:
        """Replace the bin's row in ``forecasts``."""
        f = forecast
        self._db.execute(
            "INSERT OR REPLACE INTO forecasts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                bin_id,
                _fmt(f.computed_at),
                f.method,
                f.points,
                f.full_pct,
                _ts(f.predicted_full_at),
                _ts(f.low),
                _ts(f.high),
                f.rate_pct_per_h,
                f.level_pct,
                f.span_hours,
            ),
        )

    def load_forecasts(self) -> dict[str, Forecast]:
        """Every row of ``forecasts``."""
        rows = self._db.execute(f"SELECT {_FORECAST_COLUMNS} FROM forecasts ORDER BY bin_id")
        return {row[0]: _forecast(row) for row in rows}

    def get_forecast(self, bin_id: str) -> Forecast | None:
        """One row of ``forecasts``."""
        row = self._db.execute(
            f"SELECT {_FORECAST_COLUMNS} FROM forecasts WHERE bin_id = ?", (bin_id,)
        ).fetchone()
        return None if row is None else _forecast(row)
