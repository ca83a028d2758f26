"""Shared pieces of the bridge's unit tests: a hand-moved clock and an in-memory store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from cloud_bridge.store.sqlite.store import SQLiteStore
from tests.support.bin_messages import T0


class FakeNow:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0 + timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def store() -> Iterator[SQLiteStore]:
    """A fresh bridge store in memory."""
    db = SQLiteStore(":memory:")
    yield db
    db.close()


@pytest.fixture
def clock() -> FakeNow:
    """The bridge's clock, an hour after the messages' base time."""
    return FakeNow()
