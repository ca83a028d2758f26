"""The agent's exception hierarchy: one root, leaves that are also builtins."""

from __future__ import annotations


class AgentError(Exception):
    """Root of the agent's own errors."""


class HardwareUnavailable(AgentError, RuntimeError):
    """The configured hardware backend cannot run on this machine.

    The message is one line a technician can act on (which library or device is missing).
    """


class OutboxError(AgentError, OSError):
    """The local store could not be written (disk full, corrupt database)."""
