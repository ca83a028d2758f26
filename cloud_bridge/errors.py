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
    """The store could not be opened or migrated."""
