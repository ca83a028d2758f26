"""Rate-limited warnings, so a flood of bad messages cannot fill the disk with logs.

Every rejection is counted in the store; only the first ``per_minute`` of each reason
in a minute are logged, and the number left out is logged when the next minute opens.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Window:
    started: float
    logged: int = 0
    suppressed: int = 0


class RateLimitedLog:
    """Logs at most ``per_minute`` warnings per key and minute; counts the rest."""

    def __init__(
        self,
        logger: logging.Logger,
        per_minute: int,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        window_s: float = 60.0,
    ) -> None:
        self._logger = logger
        self._per_window = per_minute
        self._monotonic = monotonic
        self._window_s = window_s
        self._windows: dict[str, _Window] = {}

    def warning(
        self, key: str, msg: str, *args: object, exc_info: BaseException | None = None
    ) -> bool:
        """Log ``msg % args`` (with ``exc_info``'s traceback, if given) unless ``key`` used
        up its minute; return whether it was logged."""
        now = self._monotonic()
        window = self._windows.get(key)
        if window is None or now - window.started >= self._window_s:
            if window is not None and window.suppressed:
                self._logger.warning(
                    "%d more %s warnings were not logged in the last %.0f s",
                    window.suppressed,
                    key,
                    now - window.started,
                )
            window = _Window(started=now)
            self._windows[key] = window
        if window.logged >= self._per_window:
            window.suppressed += 1
            return False
        window.logged += 1
        self._logger.warning(msg, *args, exc_info=exc_info)
        return True
