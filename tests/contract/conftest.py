"""The contract fixtures: every contract test runs on each backend.

``rig``: a bin's hardware (the drivers' contract). ``store``: the bridge's store (the
store's contract), built by ``open_store`` as the bridge builds it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cloud_bridge.config.settings import StoreSettings
from cloud_bridge.store import Store, open_store
from tests.support.rigs import Rig, make_real_rig, make_sim_rig


@pytest.fixture(params=["sim-pin", "rpi"])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    """A bin's hardware on the pin-level simulator, or on a real Pi when enabled."""
    made = make_sim_rig() if request.param == "sim-pin" else make_real_rig()
    try:
        yield made
    finally:
        made.hardware.close()


def _sqlite(path: Path | str) -> Store:
    return open_store(StoreSettings(path=Path(path), synchronous="NORMAL"))


STORES: dict[str, Callable[[Path], Store]] = {
    "sqlite-memory": lambda _tmp_path: _sqlite(":memory:"),
    "sqlite-file": lambda tmp_path: _sqlite(tmp_path / "bridge.db"),
}
"""Each back-end by name: a factory of an empty store, given a fresh directory.

To add one (PostgreSQL, say), add its factory here; one that needs a server it cannot
reach calls ``pytest.skip`` with the reason, so the suite still runs without it.
"""


@pytest.fixture(params=list(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store of each back-end in ``STORES``, closed after the test."""
    made = STORES[request.param](tmp_path)
    try:
        yield made
    finally:
        made.close()
