"""A bridge with two receiving facilities, collected pickups to receive, and the API and
the dashboard on one app whose actions run on the processor (no MQTT), for the facility
pages' tests (TestClient and the browser)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from cloud_bridge.api.app import create_app
from cloud_bridge.api.auth import TokenTable
from cloud_bridge.api.context import ApiContext, ReaderPool
from cloud_bridge.config.settings import validate_settings
from cloud_bridge.engine.processor import Processor
from cloud_bridge.store.sqlite.store import SQLiteStore
from cloud_bridge.web.app import mount_dashboard
from tests.support.dashboard import KEY, token
from tests.support.facility import NOW, Bins, facility_settings
from tests.test_api import DirectActions

TOKENS: dict[str, tuple[str, list[str] | None]] = {
    "sched": ("scheduler", None),
    "tech": ("technician", None),
    "admin": ("admin", None),
    "fac": ("facility", None),
    "glass-op": ("facility", ["glassworks"]),
}
"""Who signs in: a role each, and a facility operator limited to the glassworks."""


@dataclass
class FacilityBridge:
    """The app, its store and actions, and the pickups collected: ``first`` (bin-001:
    6 kg glass, 1 kg metal), ``second`` (bin-002: 3 kg glass, 0.5 kg plastic),
    ``third`` (bin-003: 2 kg glass), all in region north."""

    app: FastAPI
    store: SQLiteStore
    actions: DirectActions
    first: str
    second: str
    third: str

    def snapshot(self) -> tuple[int, int, int, int]:
        """What recording changes: intakes, dispositions, movements, publications."""
        return (
            len(self.store.list_intakes()),
            len(self.store.list_dispositions()),
            len(self.store.list_movements()),
            len(self.actions.published),
        )


@contextmanager
def facility_dashboard(tmp_path: Path) -> Iterator[FacilityBridge]:
    """The API and the dashboard over a store with collected pickups to receive."""
    path = tmp_path / "bridge.db"
    tokens = [
        {
            "name": name,
            "role": role,
            "sha256": hashlib.sha256(token(name).encode()).hexdigest(),
            **({} if facilities is None else {"facilities": facilities}),
        }
        for name, (role, facilities) in TOKENS.items()
    ]
    settings = validate_settings(facility_settings(path, api={"port": 0, "tokens": tokens}))
    store = SQLiteStore(path)
    processor = Processor(settings, store, lambda: NOW)
    bins = Bins(processor, store)
    first = bins.collect("bin-001", [("glass", 6000), ("metal", 1000)])
    second = bins.collect("bin-002", [("glass", 3000), ("plastic", 500)])
    third = bins.collect("bin-003", [("glass", 2000)])
    actions = DirectActions(processor, store)
    readers = ReaderPool.sqlite(str(path))
    table = TokenTable.from_settings(settings.api)
    context = ApiContext(
        settings=settings, readers=readers, actions=actions, clock=lambda: NOW, tokens=table
    )
    app = create_app(context)
    mount_dashboard(
        app, readers.get, table, settings=settings, clock=lambda: NOW, key=KEY, actions=actions
    )
    try:
        yield FacilityBridge(app, store, actions, first, second, third)
    finally:
        readers.close()
        store.close()
