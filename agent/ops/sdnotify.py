"""Telling systemd how the agent is doing: ``READY=1``, ``WATCHDOG=1``, ``STOPPING=1``.

The service manager's notification protocol is one datagram per message on the unix
socket named by ``$NOTIFY_SOCKET`` (a path, or an abstract name written with a leading
``@``). No library is needed for it. Outside systemd (no ``$NOTIFY_SOCKET``) every call
does nothing, so ``bin-agent run`` behaves the same in a terminal.

The watchdog interval comes from ``$WATCHDOG_USEC`` (set from ``WatchdogSec=``); the
agent pings at half of it from its runtime loop, so a hung loop, not just a dead
process, gets the service restarted.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends state changes to the service manager, if there is one."""

    def __init__(self, address: str | None, *, watchdog_s: float | None = None) -> None:
        self.address = address
        self.watchdog_s = watchdog_s
        self._socket: socket.socket | None = None
        if address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.setblocking(False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """The notifier systemd asked for through the environment (or a silent one)."""
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET") or None
        watchdog_s: float | None = None
        usec = env.get("WATCHDOG_USEC")
        pid = env.get("WATCHDOG_PID")
        if usec and (not pid or pid == str(os.getpid())):
            try:
                value = int(usec)
            except ValueError:
                log.warning("WATCHDOG_USEC=%r is not a number: watchdog not served", usec)
            else:
                watchdog_s = value / 1e6 if value > 0 else None
        return cls(address, watchdog_s=watchdog_s)

    @property
    def enabled(self) -> bool:
        """Whether a service manager listens."""
        return self._socket is not None

    def notify(self, **fields: str | int) -> bool:
        """Send ``KEY=value`` lines in one datagram; False if nobody listens or it failed."""
        if self._socket is None or self.address is None:
            return False
        text = "\n".join(f"{key.upper()}={value}" for key, value in fields.items())
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            self._socket.sendto(text.encode("utf-8"), target)
        except OSError as err:
            log.warning("cannot notify the service manager at %s: %s", self.address, err)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """The agent has started (``Type=notify`` waits for this)."""
        if status is None:
            return self.notify(ready=1)
        return self.notify(ready=1, status=status)

    def stopping(self) -> bool:
        """The agent is shutting down cleanly."""
        return self.notify(stopping=1)

    def watchdog(self) -> bool:
        """The agent is alive and its loop is turning."""
        return self.notify(watchdog=1)

    def close(self) -> None:
        """Release the socket."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class WatchdogHook:
    """A runtime step hook that pings the watchdog at half its interval.

    It runs inside the runtime's step, so the pings stop when the loop stops turning.
    """

    def __init__(self, notifier: Notifier) -> None:
        if notifier.watchdog_s is None:
            raise ValueError("the notifier has no watchdog interval (WATCHDOG_USEC unset)")
        self.notifier = notifier
        self.period_s = notifier.watchdog_s / 2.0
        self._next = float("-inf")

    def __call__(self, now: float) -> float:
        """Ping when due; return the monotonic time of the next ping."""
        if now >= self._next:
            self.notifier.watchdog()
            self._next = now + self.period_s
        return self._next
