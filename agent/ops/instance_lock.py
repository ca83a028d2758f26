"""One agent per database: an advisory lock beside it.

Two agents on one database would both publish as the same bin, and two clients with
one client id kick each other off the broker in a loop. The lock also tells
``bin-agent status`` whether an agent is running right now.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

from agent.errors import AgentError

logger = logging.getLogger(__name__)


def lock_path(db_path: Path) -> Path:
    """The lock file that belongs to an agent database."""
    return db_path.with_name(db_path.name + ".lock")


class InstanceLock:
    """An exclusive ``flock`` held for the life of the agent process."""

    def __init__(self, db_path: Path) -> None:
        self.path = lock_path(db_path)
        self._fd = -1
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._close()
            raise AgentError(
                f"another agent is already running on {db_path} (lock {self.path})"
            ) from None
        except OSError as err:
            # A missing, read-only or foreign storage directory: say which setting.
            self._close()
            raise AgentError(
                f"storage.path: cannot lock {self.path}: {err.strerror or err}"
            ) from None
        try:
            os.ftruncate(self._fd, 0)
            os.write(self._fd, f"{os.getpid()}\n".encode())
        except OSError as err:  # the pid is informative only; a full card must not stop us
            logger.warning("cannot write the pid into %s: %s", self.path, err)

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

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
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as err:
        raise AgentError(f"storage.path: cannot read the lock {path}: {err.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
