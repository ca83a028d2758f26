"""Remote configuration from the bridge: validated, versioned, retained per bin.

A push names one bin or a region and carries an overlay of the remotely settable
sections (``intervals``, ``thresholds``, ``intake``; see :mod:`firmware_config.remote`).
It is validated before anything is stored or published, with the device schema:
an unknown or misspelt key, a wrong type, a value out of range or a section that is
not remotely settable is an error naming its key path. Rules between keys (the
unlock level below the lock level) are checked against the schema's defaults for
the keys the overlay leaves out; the bin checks again against its own file.

Each bin gets its own version, one above the highest the bridge knows of for it
(pushed, reported by the bin, or in its birth and health), so the bin never ignores
it as old. The desired configuration is published retained on
``bins/v1/{bin_id}/config/desired`` (QoS 1) through the outbox, so a bin that is
offline gets it when it connects, and stored with who pushed it.

The bridge also listens on ``config/desired`` (:meth:`ConfigService.on_desired`): what
it published itself comes back and is known, but a fresh database (an older backup, a
second bridge on the broker) meets retained desired configurations it has no record
of, and a bin that has not applied one yet would be reconfigured by it behind the
bridge's back. Each such message is, by ``remote_config.unknown_desired``, adopted
(stored as the bin's desired configuration with its version, so pushes continue above
it) or cleared from the broker (an empty retained message); a warning names the bin
and the version either way.
"""

from __future__ import annotations

import json
import logging
import tomllib
from pathlib import Path
from typing import Any

from cloud_bridge.clock import Clock
from cloud_bridge.config.settings import BridgeSettings
from cloud_bridge.domain.fleet import Fleet
from cloud_bridge.domain.records import BinRecord, DesiredConfig
from cloud_bridge.errors import BridgeError, InvalidAction, NotFound
from cloud_bridge.services.notifier import Notifier
from cloud_bridge.store.protocols import Store
from firmware_config import ConfigError, DeviceConfig, merge_remote
from firmware_config.errors import ConfigIssue
from firmware_config.schema import Identity
from protocol import (
    MAX_PAYLOAD_BYTES,
    ConfigDesired,
    ProtocolError,
    TopicKind,
    bin_topic,
    decode,
    encode,
)

logger = logging.getLogger(__name__)

_BASE = DeviceConfig(identity=Identity(bin_id="config-check"))
"""The schema's defaults, standing in for a bin's own file when an overlay is checked."""


class ConfigFileError(BridgeError, ValueError):
    """A configuration file to push could not be read or does not validate."""


class InvalidConfig(InvalidAction):
    """An overlay breaks the device schema; ``issues`` name each offending key."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(str(issue) for issue in issues), field="config")


def check_overlay(overlay: dict[str, Any]) -> None:
    """Raise :class:`InvalidConfig` naming every key of ``overlay`` the schema refuses.

    An empty overlay is valid: it puts the values of each bin's own file back.
    """
    try:
        merge_remote(_BASE, overlay, version=1)
    except ConfigError as err:
        raise InvalidConfig(list(err.issues)) from None


def load_overlay(path: Path) -> dict[str, Any]:
    """Read an overlay from a TOML file (or JSON, for a ``.json`` file) and check it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigFileError(f"{path}: {err.strerror or err}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise ConfigFileError(f"{path}: {err}") from None
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: must hold an object of sections, not {type(data).__name__}")
    try:
        check_overlay(data)
    except InvalidConfig as err:
        raise ConfigFileError(f"{path}: {err}") from None
    return data


def next_version(record: BinRecord) -> int:
    """One above every version the bridge knows of for the bin (it ignores older ones)."""
    known = (record.desired_version, record.reported_version, record.config_version)
    return max((v for v in known if v is not None), default=0) + 1


ADOPTED_BY = "(retained on the broker)"
"""The ``actor`` of a desired configuration the bridge adopted rather than pushed."""


class ConfigService:
    """Pushes desired configurations to bins, and deals with those it finds on the broker."""

    def __init__(
        self,
        settings: BridgeSettings,
        store: Store,
        clock: Clock,
        fleet: Fleet,
        notifier: Notifier,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._fleet = fleet
        self._notifier = notifier

    def targets(self, bin_id: str | None, region: str | None) -> list[BinRecord]:
        """The bins a push names: one bin, or every bin the bridge knows in a region."""
        if (bin_id is None) == (region is None):
            raise InvalidAction("give exactly one of bin_id and region", field="bin_id")
        if bin_id is not None:
            record = self._fleet.get(bin_id)
            if record is None:
                raise NotFound(f"no bin {bin_id!r}", field="bin_id")
            return [record]
        records = [record for record in self._fleet.all() if record.region == region]
        if not records:
            raise NotFound(f"no bins in region {region!r}", field="region")
        return records

    def push(
        self,
        config: dict[str, Any],
        *,
        bin_id: str | None = None,
        region: str | None = None,
        actor: str,
    ) -> list[DesiredConfig]:
        """Validate, then store and queue one retained desired configuration per bin."""
        check_overlay(config)
        records = self.targets(bin_id, region)
        now = self._clock()
        pushed: list[DesiredConfig] = []
        for record in records:
            version = next_version(record)
            payload = encode(ConfigDesired(version=version, config=config, issued_at=now))
            if len(payload) > MAX_PAYLOAD_BYTES:
                raise InvalidAction(
                    f"the configuration is {len(payload)} bytes, over {MAX_PAYLOAD_BYTES}",
                    field="config",
                )
            desired = DesiredConfig(record.bin_id, version, dict(config), now, actor)
            self._store.save_desired(desired)
            topic = bin_topic(
                record.bin_id, TopicKind.CONFIG_DESIRED, prefix=self._settings.broker.topic_prefix
            )
            self._notifier.publish(topic, payload, retain=True)
            record.desired_version = version
            record.desired_at = now
            self._fleet.touch(record.bin_id)
            pushed.append(desired)
            logger.info(
                "configuration version %d pushed to %s by %s: %s",
                version,
                record.bin_id,
                actor,
                ", ".join(sorted(config)),
            )
        return pushed

    def on_desired(self, bin_id: str, topic: str, payload: bytes) -> bool:
        """Check a ``config/desired`` message seen on the broker against the store.

        One the bridge issued (or an older version) changes nothing, nor does an empty
        one (a cleared retained message). One it has no record of is adopted or cleared,
        as ``remote_config.unknown_desired`` says; returns True then. One that does not
        decode is left alone (a bin refuses it as well), with a warning.
        """
        if not payload:
            return False
        try:
            desired = decode(ConfigDesired, payload, topic=topic)
        except ProtocolError as err:
            logger.warning("desired configuration on the broker that does not decode, left "
                           "alone: %s", err)  # fmt: skip
            return False
        known = self._store.get_desired(bin_id)
        if known is not None and known.version >= desired.version:
            return False
        mode = self._settings.remote_config.unknown_desired
        if mode == "clear":
            self._notifier.publish(topic, b"", retain=True)
            logger.warning(
                "bin %s: desired configuration version %d on the broker was not issued by "
                "this bridge (its newest: %s); cleared it (remote_config.unknown_desired = "
                "'clear')",
                bin_id,
                desired.version,
                "none" if known is None else known.version,
            )
            return True
        now = self._clock()
        config = dict(desired.config)
        self._store.save_desired(
            DesiredConfig(bin_id, desired.version, config, desired.issued_at, ADOPTED_BY)
        )
        record = self._fleet.ensure(bin_id)
        record.desired_version = desired.version
        record.desired_at = now  # the grace for applying it starts now
        self._fleet.touch(bin_id)
        logger.warning(
            "bin %s: adopted desired configuration version %d found on the broker, which "
            "this bridge had no record of (issued %s: %s); the next push is version %d "
            "(remote_config.unknown_desired = 'adopt')",
            bin_id,
            desired.version,
            desired.issued_at.isoformat(),
            ", ".join(sorted(config)) or "an empty overlay",
            next_version(record),
        )
        return True
