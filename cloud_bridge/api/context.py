"""What the API's handlers share: settings, read connections, the writer, tokens, clock.

Reads go to read-only connections, one per API worker thread, so they never wait for
the ingest writer. Changes (schedulers' and technicians' actions, delivery retries) go
through :class:`Actions`: inside ``bin-bridge run`` that is the engine's
:class:`~cloud_bridge.engine.bridge.Bridge`, which runs them on its writer thread between
batches, so the in-memory state, the database and the published messages stay
consistent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from cloud_bridge.api.auth import TokenTable
from cloud_bridge.clock import Clock
from cloud_bridge.config.settings import BridgeSettings
from cloud_bridge.domain.records import CommandRecord, DesiredConfig
from cloud_bridge.services.facility import FacilityService
from cloud_bridge.services.pickups import PickupService
from cloud_bridge.store import Store, open_store

_T = TypeVar("_T")


class Actions(Protocol):
    """Changes the API asks of the running bridge."""

    def pickups(self, action: Callable[[PickupService], _T]) -> _T:
        """Run ``action`` on the pickup service in a transaction; publish what it changed."""
        ...

    def retry_delivery(self, delivery_id: int) -> bool:
        """Make a dead-lettered delivery pending again."""
        ...

    def facility(self, action: Callable[[FacilityService], _T]) -> _T:
        """Run ``action`` on the facility service in a transaction; publish what it changed."""
        ...

    def send_command(
        self, bin_id: str, name: str, args: dict[str, Any], ttl_s: float | None, actor: str
    ) -> CommandRecord:
        """Store and publish a command to a bin."""
        ...

    def push_config(
        self,
        config: dict[str, Any],
        *,
        bin_id: str | None = None,
        region: str | None = None,
        actor: str,
    ) -> list[DesiredConfig]:
        """Store and publish (retained) a configuration overlay for one bin or a region."""
        ...

    def wait_command(self, command_id: str, timeout: float) -> bool:
        """Wait up to ``timeout`` s for a pending command to be settled; True if it was."""
        ...


class ReaderPool:
    """One read-only store per thread, opened on first use, all closed by :meth:`close`."""

    def __init__(self, open_reader: Callable[[], Store]) -> None:
        self._open = open_reader
        self._local = threading.local()
        self._all: list[Store] = []
        self._lock = threading.Lock()

    @classmethod
    def sqlite(cls, path: str) -> ReaderPool:
        """Readers of a SQLite database file."""
        return cls(lambda: open_store(path, readonly=True))

    def get(self) -> Store:
        """This thread's reader."""
        reader: Store | None = getattr(self._local, "reader", None)
        if reader is None:
            reader = self._open()
            self._local.reader = reader
            with self._lock:
                self._all.append(reader)
        return reader

    def close(self) -> None:
        """Close every reader."""
        with self._lock:
            readers, self._all = self._all, []
        for reader in readers:
            reader.close()


@dataclass
class ApiContext:
    """Everything a request handler may use."""

    settings: BridgeSettings
    readers: ReaderPool
    actions: Actions
    clock: Clock
    tokens: TokenTable
