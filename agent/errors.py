"""The agent's exception hierarchy: one root, leaves that are also builtins."""

from __future__ import annotations


class AgentError(Exception):
    """Root of the agent's own errors."""


class HardwareUnavailable(AgentError, RuntimeError):
    """The configured hardware backend cannot run on this machine.

    The message is one line a technician can act on (which library or device is missing).
    """


class StorageError(AgentError, OSError):
    """The agent database refused a read or a write (disk full, locked, corrupt file).

    The storage package (:mod:`agent.storage`) turns every SQLite error into this one,
    so the rest of the agent handles a failing database without knowing it is SQLite.
    """
