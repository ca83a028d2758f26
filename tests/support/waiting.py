"""Waiting for a condition with a deadline, for state that offers nothing to await."""

from __future__ import annotations

import time
from collections.abc import Callable


def eventually(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Re-check ``predicate`` every 10 ms until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout} s: {what or predicate}")
        time.sleep(0.01)
