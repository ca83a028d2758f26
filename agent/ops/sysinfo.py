"""Facts about the machine the agent runs on, for the ``health`` message."""

from __future__ import annotations

import os
from pathlib import Path

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")


def cpu_temp_c(path: Path = THERMAL_ZONE) -> float | None:
    """SoC temperature from sysfs (the Pi exposes it there); None where unavailable."""
    try:
        return round(int(path.read_text().strip()) / 1000.0, 1)
    except (OSError, ValueError):
        return None


def disk_free_mb(path: Path) -> float:
    """Free space available to the agent on the file system holding ``path``."""
    probe = path if path.exists() else path.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    stats = os.statvfs(probe)
    return round(stats.f_bavail * stats.f_frsize / 1024**2, 1)
