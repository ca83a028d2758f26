"""A seeded bridge store with the API and the dashboard on one app, for the web tests."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

from fastapi import FastAPI

from cloud_bridge.api.app import create_app
from cloud_bridge.api.auth import TokenTable
from cloud_bridge.api.context import Actions, ApiContext, ReaderPool
from cloud_bridge.config.settings import BridgeSettings, validate_settings
from cloud_bridge.domain.inbound import Inbound
from cloud_bridge.engine.processor import Processor
from cloud_bridge.services.facility import FacilityService
from cloud_bridge.services.pickups import PickupService
from cloud_bridge.store.sqlite.store import SQLiteStore
from cloud_bridge.web.app import mount_dashboard
from tests.support import bin_messages as msg
from tests.support.bin_messages import T0

_T = TypeVar("_T")
NOW = T0 + timedelta(hours=3)
KEY = b"k" * 32
TOKENS = {"sched": "scheduler", "tech": "technician", "admin": "admin", "fac": "facility"}
HOSTILE = '<script>alert("x")</script>'
"""Markup a bin reports as a fault code: the page must show it as text."""
BINS = ("bin-001", "bin-002", "bin-003", "bin-004")
HISTORY = ((1800, 20.0), (3600, 33.0), (5400, 47.0), (7200, 60.0))
"""bin-003's readings (seq = seconds after T0) since its emptying, for the bin page."""


class NoActions:
    """The dashboard's pages only read: any action is a test failure."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the dashboard asked the bridge to act: {name}")


def token(name: str) -> str:
    """The token of holder ``name`` in these settings."""
    return f"{name}-token-0123456789"


def web_settings(path: Path, **web: Any) -> BridgeSettings:
    """Settings with a token per role and the given ``[web]`` section."""
    return validate_settings(
        {
            "store": {"path": str(path)},
            "api": {
                "port": 0,
                "tokens": [
                    {
                        "name": name,
                        "role": role,
                        "sha256": hashlib.sha256(token(name).encode()).hexdigest(),
                    }
                    for name, role in TOKENS.items()
                ],
            },
            "forecast": {"interval_s": 0},
            "web": web,
        }
    )


def seed(settings: BridgeSettings, store: SQLiteStore) -> Processor:
    """Four bins: one full with a pickup, one offline, one with a hostile fault code,
    one nearly empty."""
    processor = Processor(settings, store, lambda: NOW)
    batch = [
        msg.state("bin-001", 1, region="north", lat=52.52, lon=13.40),
        msg.deposit("bin-001", 2, "glass", grams=500),
        msg.deposit("bin-001", 3, "plastic", grams=30),
        msg.deposit("bin-001", 4, "metal", grams=40, accepted=False),
        msg.telemetry("bin-001", 5, 93.0, door="locked"),
        msg.state("bin-002", 1, region="south", lat=52.50, lon=13.45),
        msg.telemetry("bin-002", 2, 40.0),
        msg.state("bin-002", 3, online=False, region="south"),
        msg.state("bin-003", 1, region="north", lat=52.53, lon=13.38),
        # a history: full, emptied, then filling again over the last two hours
        msg.telemetry("bin-003", 2, 70.0),
        msg.emptied("bin-003", 20),
        msg.telemetry("bin-003", 30, 4.0),
        *(msg.telemetry("bin-003", seq, fill) for seq, fill in HISTORY),
        msg.fault("bin-003", 7300, "camera", HOSTILE, detail=HOSTILE),
        msg.health("bin-003", 7301, sensors={"ultrasonic": "ok", "camera": "degraded"}),
        msg.config_reported("bin-003", 7302, 3, "applied"),
        msg.state("bin-004", 1, region="south", lat=52.49, lon=13.42),
        msg.telemetry("bin-004", 2, 5.0),
    ]
    processor.process([Inbound(topic, payload) for topic, payload in batch])
    processor.tick()
    return processor


class WriterActions:
    """The bridge's action path without MQTT: the processor runs each action in a
    transaction; ``calls`` counts them, so a test can see that none ran."""

    def __init__(self, processor: Processor) -> None:
        self.processor = processor
        self.calls = 0

    def pickups(self, action: Callable[[PickupService], _T]) -> _T:
        self.calls += 1
        result, _ = self.processor.act(action)
        return result

    def facility(self, action: Callable[[FacilityService], _T]) -> _T:
        self.calls += 1
        result, _ = self.processor.run(lambda: action(self.processor.facility))
        return result


@contextmanager
def dashboard_app(
    tmp_path: Path, *, writer: list[WriterActions] | None = None, **web: Any
) -> Iterator[FastAPI]:
    """The API and the dashboard over a seeded store. With ``writer`` (a list the
    writer is put into), the dashboard's forms act through the seeded processor."""
    path = tmp_path / "bridge.db"
    settings = web_settings(path, **web)
    store = SQLiteStore(path)
    processor = seed(settings, store)
    actions = None
    if writer is not None:
        actions = WriterActions(processor)
        writer.append(actions)
    readers = ReaderPool.sqlite(str(path))
    tokens = TokenTable.from_settings(settings.api)
    context = ApiContext(
        settings=settings,
        readers=readers,
        actions=cast(Actions, NoActions()),
        clock=lambda: NOW,
        tokens=tokens,
    )
    app = create_app(context)
    mount_dashboard(
        app, readers.get, tokens, settings=settings, clock=lambda: NOW, key=KEY, actions=actions
    )
    try:
        yield app
    finally:
        readers.close()
        store.close()
