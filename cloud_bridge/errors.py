"""The bridge's exception hierarchy: one root, leaves that are also builtins."""

from __future__ import annotations


class BridgeError(Exception):
    """Root of every error the bridge raises on purpose."""


class SettingsError(BridgeError, ValueError):
    """Settings could not be read or did not validate; ``issues`` name each key."""

    def __init__(self, source: str, issues: list[str]) -> None:
        self.source = source
        self.issues = issues
        super().__init__(f"{source}: " + "; ".join(issues))


class BrokerUrlError(BridgeError, ValueError):
    """A broker URL is not ``mqtt://HOST:PORT`` or ``mqtts://HOST:PORT``."""


class StoreError(BridgeError, RuntimeError):
    """The store could not be opened or migrated, or failed a statement.

    Every back-end raises this or a leaf below it, never its driver's exceptions, so the
    writer, the workers and the CLI judge a failure the same way whatever the database.
    """


class StoreConflict(StoreError):
    """A write broke one of the store's uniqueness rules: a second open pickup of a bin,
    a second open ticket of a bin and kind, a configuration version pushed twice.

    The same write fails again, so it is never retried as it stands.
    """


class StoreUnavailable(StoreError):
    """The store cannot do the work now but may later: the database is busy or locked,
    the disk full or failing, the file read-only.

    Transient (see ``Store.is_transient``): the writer rolls back, acknowledges nothing
    and retries the same work, so no message is lost while the store recovers.
    """


class ActionError(BridgeError):
    """A scheduler's action cannot be carried out; ``status`` is the HTTP status it maps to."""

    status = 409

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class NotFound(ActionError, LookupError):
    """The pickup (or bin, or delivery) named does not exist."""

    status = 404


class Conflict(ActionError):
    """The action does not fit the pickup's state (e.g. cancelling a collected pickup)."""

    status = 409


class InvalidAction(ActionError, ValueError):
    """An argument of the action is out of range (``field`` names it)."""

    status = 422


class Unavailable(BridgeError, RuntimeError):
    """The bridge's writer is not running or did not answer in time."""


class ApiError(BridgeError, RuntimeError):
    """The REST API could not be served (for example, its port is taken)."""
