"""Where the bridge keeps what it knows: the storage contract and its back-ends.

:func:`open_store` is the one place a back-end is chosen and built; everything else
takes a :class:`~cloud_bridge.store.protocols.Store` and never names a back-end, nor
catches a back-end's exceptions: stores raise the errors re-exported here.
"""

from __future__ import annotations

from pathlib import Path

from cloud_bridge.config.settings import StoreSettings
from cloud_bridge.errors import StoreConflict, StoreError, StoreUnavailable
from cloud_bridge.store.protocols import Store


def open_store(
    location: StoreSettings | Path | str, *, readonly: bool = False, must_exist: bool = False
) -> Store:
    """Open the store that ``location`` names: the ``[store]`` settings or a database path.

    ``readonly`` opens a reader that works beside a running bridge; ``must_exist`` refuses
    to create a database (a typo in a path would otherwise make an empty one).
    """
    from cloud_bridge.store.sqlite.store import SQLiteStore

    settings = location if isinstance(location, StoreSettings) else StoreSettings(path=location)
    path = settings.path
    if must_exist and (str(path) == ":memory:" or not Path(path).is_file()):
        raise StoreError(f"{path}: no bridge database here")
    if readonly:
        return SQLiteStore(path, readonly=True)
    return SQLiteStore(
        path,
        synchronous=settings.synchronous,
        wal_autocheckpoint_pages=settings.wal_autocheckpoint_pages,
    )


__all__ = ["Store", "StoreConflict", "StoreError", "StoreUnavailable", "open_store"]
