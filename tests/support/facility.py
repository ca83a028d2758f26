"""Bridge settings with receiving facilities, and collected pickups to receive, for the
facility tests (service, API, CLI, report)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from cloud_bridge.config.settings import BridgeSettings, validate_settings
from cloud_bridge.domain.inbound import Inbound
from cloud_bridge.engine.processor import Processor
from cloud_bridge.store.protocols import Store
from protocol import Category
from tests.support import bin_messages as msg
from tests.support.bin_messages import T0

NOW = T0 + timedelta(hours=3)

FACILITY_ROUTE_PREFIXES = ("/v1/facilities", "/v1/intakes", "/v1/trace", "/v1/reports")
"""The facility routes: tests/test_api.py leaves them to tests/test_facility_api.py."""

SITES: list[dict[str, Any]] = [
    {
        "id": "mrf-north",
        "name": "North materials recovery facility",
        "location": {"lat": 52.60, "lon": 13.40},
        "regions": ["north"],
    },
    {
        "id": "glassworks",
        "name": "Glassworks",
        "location": {"lat": 52.40, "lon": 13.50},
        "materials": ["glass", "metal"],
    },
]


def facility_settings(path: Path | str = ":memory:", **extra: Any) -> dict[str, Any]:
    """A settings mapping with two facilities, tolerance 10 % / 1 kg, drift over 2 intakes."""
    return {
        "store": {"path": str(path)},
        "forecast": {"interval_s": 0},
        "routing": {"regions": {"north": {"depot": {"lat": 52.50, "lon": 13.40}}}},
        "facilities": {
            "sites": SITES,
            "tolerance_pct": 10.0,
            "tolerance_kg": 1.0,
            "contamination_threshold_pct": 10.0,
            "contamination_intakes": 2,
            "prices": {"glass": {"recycle": 0.05, "reuse": 0.40}, "trash": {"dispose": -0.12}},
        },
        **extra,
    }


def settings(path: Path | str = ":memory:", **extra: Any) -> BridgeSettings:
    """:func:`facility_settings` validated."""
    return validate_settings(facility_settings(path, **extra))


class Bins:
    """Feeds a processor the messages of bins that fill, get a pickup and are emptied."""

    def __init__(self, processor: Processor, store: Store) -> None:
        self.processor = processor
        self.store = store
        self.seqs: dict[str, int] = {}

    def _next(self, bin_id: str) -> int:
        self.seqs[bin_id] = self.seqs.get(bin_id, 0) + 1
        return self.seqs[bin_id]

    def feed(self, messages: Sequence[tuple[str, bytes]]) -> None:
        """Process messages in one batch."""
        self.processor.process([Inbound(topic, payload) for topic, payload in messages])

    def collect(
        self,
        bin_id: str,
        deposits: Sequence[tuple[Category, float]],
        *,
        region: str = "north",
        lat: float = 52.52,
        lon: float = 13.41,
    ) -> str:
        """Deposit ``(category, grams)`` items, fill the bin, empty it: the pickup's id."""
        batch = []
        if bin_id not in self.seqs:
            batch.append(msg.state(bin_id, self._next(bin_id), region=region, lat=lat, lon=lon))
        for category, grams in deposits:
            batch.append(msg.deposit(bin_id, self._next(bin_id), category, grams=grams))
        batch.append(msg.telemetry(bin_id, self._next(bin_id), 91.0))
        before = {p.pickup_id for p in self.store.list_pickups(bin_id=bin_id)}
        self.feed(batch)
        self.feed([msg.emptied(bin_id, self._next(bin_id))])
        (new,) = [p for p in self.store.list_pickups(bin_id=bin_id) if p.pickup_id not in before]
        assert new.status == "collected", new
        return new.pickup_id

    def request(self, bin_id: str, *, region: str = "north") -> str:
        """A bin that fills up: its pickup is requested, not collected."""
        batch = []
        if bin_id not in self.seqs:
            batch.append(msg.state(bin_id, self._next(bin_id), region=region))
        batch.append(msg.deposit(bin_id, self._next(bin_id), "glass", grams=400))
        batch.append(msg.telemetry(bin_id, self._next(bin_id), 91.0))
        self.feed(batch)
        (pickup,) = self.store.list_pickups(bin_id=bin_id, open_only=True)
        return pickup.pickup_id
