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
from dataclasses import dataclass, field
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

    def watch_command(self, command_id: str, notify: Callable[[], None]) -> Callable[[], None]:
        """Call ``notify`` once the command is settled (it is called on the bridge's
        writer thread, so it only hands over); return a function that stops watching."""
        ...


class TooManyWaits(Exception):
    """A token already holds as many long polls as ``api.max_waits_per_token`` allows."""


class WaitSlots:
    """How many long polls each token holds, bounded per token, and how to end them all.

    A long poll (``GET /v1/commands/{id}?wait=``) holds no thread while it waits, but
    each still holds a connection and a watcher; one token (a script, many parallel
    ``bin-bridge cmd``) may hold at most ``most`` at a time, so it cannot crowd out the
    others. When the API stops, :meth:`wake_all` ends every wait at once (each answers
    the command as it stands) instead of letting the server wait out their ``wait``.
    """

    def __init__(self) -> None:
        self._held: dict[str, int] = {}
        self._wakers: set[Callable[[], None]] = set()
        self._stopping = False
        self._lock = threading.Lock()

    def take(self, token: str, most: int, wake: Callable[[], None]) -> Callable[[], None]:
        """Take one of ``token``'s slots for a wait that ``wake`` ends early; return the
        function that gives the slot back. Raise :class:`TooManyWaits` when the token
        already holds ``most``."""
        with self._lock:
            held = self._held.get(token, 0)
            if held >= most:
                raise TooManyWaits(
                    f"token {token!r} already waits for {held} commands (at most {most} at "
                    "a time, api.max_waits_per_token): ask without wait, or when one of "
                    "them has returned"
                )
            self._held[token] = held + 1
            self._wakers.add(wake)
            stopping = self._stopping
        if stopping:
            wake()
        given_back = False

        def give_back() -> None:
            nonlocal given_back
            with self._lock:
                if given_back:
                    return
                given_back = True
                self._wakers.discard(wake)
                left = self._held[token] - 1
                if left:
                    self._held[token] = left
                else:
                    del self._held[token]

        return give_back

    def wake_all(self) -> None:
        """End every wait now, and every wait that starts from now on (the API is
        stopping)."""
        with self._lock:
            self._stopping = True
            wakers = list(self._wakers)
        for wake in wakers:
            wake()


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
    waits: WaitSlots = field(default_factory=WaitSlots)
    """The long polls each token holds (``api.max_waits_per_token`` at most)."""
