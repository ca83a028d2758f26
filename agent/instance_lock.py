"""One agent per database: an advisory lock beside it.

Two agents on one database would both publish as the same bin, and two clients with
one client id kick each other off the broker in a loop. The lock also tells
``bin-agent status`` whether an agent is running right now.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from agent.errors import AgentError


def lock_path(db_path: Path) -> Path:
    """The lock file that belongs to an agent database."""
    return db_path.with_name(db_path.name + ".lock")


class InstanceLock:
    """An exclusive ``flock`` held for the life of the agent process."""

    def __init__(self, db_path: Path) -> None:
        self.path = lock_path(db_path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise AgentError(
                f"another agent is already running on {db_path} (lock {self.path})"
            ) from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        """Let another agent start."""
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1


def agent_running(db_path: Path) -> bool:
    """Whether some process holds the agent lock of ``db_path``."""
    path = lock_path(db_path)
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
