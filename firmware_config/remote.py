"""The remotely settable part of the device configuration, and how it is applied.

The cloud publishes a desired configuration (``config/desired``) whose ``config``
object may set keys of the sections in :data:`REMOTE_SECTIONS` only: the periods, the
thresholds and the deposit policy, which the agent reads afresh every time it uses them.
Everything else (identity, pins, calibration, drivers, broker, storage, classifier
files) stays under the control of the file on the bin: a wrong value there could cut
the bin off from the broker or from its own hardware, and no remote message could then
repair it.

A desired configuration is an overlay on the bin's *file* configuration, not on the
previous remote one: each version says the whole remote state (keys it does not name
keep the file's value), so applying the same version twice, or after a restart, always
gives the same result. It is validated with the same schema as the file, so every
error names its key path, e.g. ``intake.min_confidence``.
"""

from __future__ import annotations

from typing import Any

from firmware_config.errors import ConfigError, ConfigIssue
from firmware_config.loader import validate_config
from firmware_config.schema import DeviceConfig

REMOTE_SECTIONS: tuple[str, ...] = ("intervals", "thresholds", "intake")
"""Top-level sections a ``config/desired`` message may set."""

REMOTE_SOURCE = "config/desired"


def remote_sections(config: DeviceConfig) -> dict[str, Any]:
    """The remotely settable sections of ``config`` as plain JSON-able values."""
    return {name: getattr(config, name).model_dump(mode="json") for name in REMOTE_SECTIONS}


def merge_remote(
    base: DeviceConfig, overlay: dict[str, Any], *, version: int, source: str = REMOTE_SOURCE
) -> DeviceConfig:
    """``base`` with ``overlay`` applied to its remote sections, as version ``version``.

    Raise :class:`ConfigError` naming every offending key: a section that is not
    remotely settable, a section that is not an object, an unknown or out-of-range key.
    The result shares every non-remote section object with ``base`` (drivers hold
    references to them, e.g. the calibration a tare updates), so only the remote
    sections and ``config_version`` differ.
    """
    issues: list[ConfigIssue] = []
    for name, value in overlay.items():
        if name not in REMOTE_SECTIONS:
            known = name in DeviceConfig.model_fields
            message = (
                "not remotely settable (set it in the bin's configuration file)"
                if known
                else "unknown section"
            )
            issues.append(
                ConfigIssue(name, f"{message}; remote sections: {', '.join(REMOTE_SECTIONS)}")
            )
        elif not isinstance(value, dict):
            issues.append(ConfigIssue(name, f"must be an object, not {type(value).__name__}"))
    if issues:
        raise ConfigError(source, issues)
    data = base.model_dump()
    data["config_version"] = version
    for name, value in overlay.items():
        data[name] = {**data[name], **value}
    merged = validate_config(data, source=source)
    updates: dict[str, Any] = {name: getattr(merged, name) for name in REMOTE_SECTIONS}
    updates["config_version"] = merged.config_version
    return base.model_copy(update=updates)
