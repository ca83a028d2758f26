"""Remote configuration: applying a ``config/desired`` message and reporting the outcome.

The cloud publishes a retained, versioned desired configuration for each bin. The agent

1. ignores a version older than or equal to the newest it has already handled (applied,
   rejected or rolled back), so a retained message delivered again on every reconnect
   changes nothing;
2. validates the ``config`` object against the device schema as an overlay on the
   bin's file configuration (:func:`firmware_config.remote.merge_remote`): a failure is
   reported ``rejected`` with the offending key path, and nothing changes;
3. puts the result in force between two steps of the runtime, never in the middle of a
   deposit, and runs its self-check; a failed check puts the previous configuration
   back and is reported ``rolled_back`` with the key it blames;
4. otherwise reports ``applied``, storing the overlay and its version in the same
   transaction as the report, so it is re-applied after a restart or power loss.

Every report goes on the retained ``config/reported`` topic through the outbox.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from agent.errors import StorageError
from agent.intake import SAMPLE_PERIOD_S
from agent.link.messages import MessageFactory
from firmware_config.errors import ConfigError
from firmware_config.remote import REMOTE_SECTIONS, merge_remote
from firmware_config.schema import DeviceConfig
from protocol import decode
from protocol.errors import ProtocolError
from protocol.messages import ConfigDesired, ConfigReported, ConfigStatus
from protocol.topics import TopicKind

log = logging.getLogger(__name__)

STORED_KEY = "remote_config"
"""Agent database key of the applied overlay: ``{"version": int, "config": {...}}``."""
HANDLED_KEY = "remote_config_handled"
"""Agent database key of the newest desired version handled, whatever its outcome."""
MAX_ERROR_CHARS = 2000
RETRY_BUSY_S = 0.5
"""How soon a configuration waiting for a deposit to finish is tried again."""

SelfCheck = Callable[[DeviceConfig], str | None]
"""One check of a configuration about to be in force: a problem naming its key, or None."""


class ConfigTarget(Protocol):
    """The running bin as remote configuration needs it (:class:`agent.runtime.AgentRuntime`)."""

    @property
    def config(self) -> DeviceConfig:
        """The configuration in force."""
        ...

    def replace_config(self, config: DeviceConfig) -> None:
        """Put ``config`` in force (only the sections a remote configuration may set differ)."""
        ...

    def deposit_in_progress(self) -> bool:
        """Whether a deposit is between the door opening and its decision."""
        ...

    def wake(self) -> None:
        """Ask for a step soon, where a waiting configuration is applied."""
        ...


class StoredValues(Protocol):
    """The agent database's key-value table, read here (:class:`agent.storage.localdb.LocalDb`);
    the keys are written with the report, through the outbox."""

    def get(self, key: str, default: Any = None) -> Any:
        """The JSON value stored under ``key``, or ``default``."""
        ...


class ReportOutbox(Protocol):
    """Where the reports go (:class:`agent.storage.outbox.Outbox`)."""

    def append(
        self,
        topic: str,
        build: Callable[[int], bytes],
        *,
        droppable: bool,
        meta: dict[str, Any] | None = None,
        retain: bool = False,
    ) -> int | None:
        """Number, build and durably store one message with ``meta`` values; its seq."""
        ...


def check_settle_timing(config: DeviceConfig) -> str | None:
    """The weight must be able to settle before the intake gives up on it.

    The intake weighs every ``SAMPLE_PERIOD_S``; fewer than ``settle_readings``
    readings within ``settle_timeout_s`` would reject every deposit as unstable.
    """
    intake = config.intake
    needed = intake.settle_readings * SAMPLE_PERIOD_S
    if needed >= intake.settle_timeout_s:
        return (
            f"intake.settle_timeout_s: {intake.settle_timeout_s:g} s is too short for "
            f"{intake.settle_readings} stable readings {SAMPLE_PERIOD_S:g} s apart "
            "(every deposit would be rejected as unstable)"
        )
    return None


def check_item_weights(config: DeviceConfig) -> str | None:
    """Some item weight must lie between the empty-tray and the too-heavy limits."""
    intake = config.intake
    if intake.min_item_g >= intake.max_item_g:
        return (
            f"intake.max_item_g: {intake.max_item_g:g} g is not above intake.min_item_g "
            f"({intake.min_item_g:g} g): no item could be accepted"
        )
    return None


def check_accepts_something(config: DeviceConfig) -> str | None:
    """A bin that rejects everything is a bin out of service (use ``lock`` for that)."""
    intake = config.intake
    if not intake.accepted_categories and intake.unknown_policy == "reject":
        return "intake.accepted_categories: empty, so every deposit would be rejected"
    return None


def check_lock_reachable(config: DeviceConfig) -> str | None:
    """The overflow lock must be at a fill the ultrasonic sensor can still measure.

    Echoes from inside the sensor's blind zone are not trusted, so the highest fill
    it can report is where the contents reach the blind zone. A lock threshold above
    that would never lock the door, and the bin would overflow.
    """
    calibration = config.calibration
    span = calibration.empty_distance_mm - calibration.full_distance_mm
    highest = (calibration.empty_distance_mm - config.ultrasonic.blind_zone_mm) / span * 100.0
    if config.thresholds.lock_fill_pct > highest:
        return (
            f"thresholds.lock_fill_pct: {config.thresholds.lock_fill_pct:g} % is above the "
            f"highest fill this bin can measure ({highest:.1f} %, where the contents reach "
            "the ultrasonic blind zone): the door would never lock"
        )
    return None


DEFAULT_CHECKS: tuple[SelfCheck, ...] = (
    check_settle_timing,
    check_item_weights,
    check_accepts_something,
    check_lock_reachable,
)


def _run_check(check: SelfCheck, config: DeviceConfig) -> str | None:
    try:
        return check(config)
    except Exception as err:  # a crashing check is a failed check, never a crash
        name = getattr(check, "__name__", repr(check))
        log.exception("self-check %s crashed", name)
        return f"self-check {name} failed: {err}"


def self_check(
    config: DeviceConfig,
    previous: DeviceConfig,
    checks: Sequence[SelfCheck] = DEFAULT_CHECKS,
) -> list[str]:
    """The problems ``config`` brings that ``previous`` did not have (empty: keep it).

    A check that already fails on the previous configuration is not the new one's
    fault (it involves sections only the file sets, say), so it does not block it.
    """
    problems: list[str] = []
    for check in checks:
        problem = _run_check(check, config)
        if problem and _run_check(check, previous) is None:
            problems.append(problem)
    return problems


@dataclass(frozen=True, slots=True)
class Restored:
    """The configuration an agent starts with, and a stored overlay that no longer fits."""

    config: DeviceConfig
    dropped_version: int | None = None
    error: str | None = None


def restore(file_config: DeviceConfig, db: StoredValues) -> Restored:
    """The file configuration with the stored remote overlay re-applied (at start).

    The overlay is re-applied only when its version is newer than the file's own
    ``config_version`` (a technician who raises it in the file takes over). An overlay
    that no longer validates or passes the self-check on top of the file (the file was
    edited) is dropped and reported as rolled back.
    """
    stored = db.get(STORED_KEY)
    if not isinstance(stored, dict):
        return Restored(file_config)
    version = int(stored.get("version", 0))
    overlay = stored.get("config")
    if version <= file_config.config_version or not isinstance(overlay, dict):
        return Restored(file_config)
    try:
        merged = merge_remote(file_config, overlay, version=version)
    except ConfigError as err:
        error = _issues_text(err)
    else:
        problems = self_check(merged, file_config)
        if not problems:
            log.info("remote configuration version %d re-applied", version)
            return Restored(merged)
        error = "; ".join(problems)
    log.warning("stored remote configuration %d no longer fits the file: %s", version, error)
    return Restored(file_config, version, f"no longer fits the configuration file: {error}")


def _issues_text(err: ConfigError) -> str:
    return "; ".join(str(issue) for issue in err.issues)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


class RemoteConfig:
    """Receives ``config/desired`` (runtime thread) and applies it between deposits."""

    def __init__(
        self,
        target: ConfigTarget,
        base: DeviceConfig,
        *,
        messages: MessageFactory,
        outbox: ReportOutbox,
        stored: StoredValues,
        checks: Sequence[SelfCheck] = DEFAULT_CHECKS,
    ) -> None:
        self.target = target
        self.messages = messages
        self.outbox = outbox
        self.base = base
        self.checks = tuple(checks)
        self.pending: ConfigDesired | None = None
        self.handled = int(stored.get(HANDLED_KEY, 0))

    @property
    def current_version(self) -> int:
        """The newest version handled or in force; older or equal ones are ignored."""
        return max(self.handled, self.target.config.config_version)

    def handle(self, payload: bytes) -> None:
        """Take a ``config/desired`` payload; it is applied at the next safe moment."""
        topic = self.messages.topic(TopicKind.CONFIG_DESIRED)
        try:
            desired = decode(ConfigDesired, payload, topic=topic)
        except ProtocolError as err:
            self._reject_unreadable(payload, str(err))
            return
        waiting = self.pending.version if self.pending is not None else 0
        if desired.version <= max(self.current_version, waiting):
            log.info(
                "desired configuration %d ignored: version %d is current",
                desired.version,
                max(self.current_version, waiting),
            )
            return
        self.pending = desired
        self.target.wake()

    def step(self, now: float) -> float | None:
        """Runtime hook: apply a waiting configuration unless a deposit is in progress."""
        if self.pending is None:
            return None
        if self.target.deposit_in_progress():
            return now + RETRY_BUSY_S
        desired, self.pending = self.pending, None
        self.apply(desired)
        return None

    def apply(self, desired: ConfigDesired) -> ConfigStatus:
        """Validate, put in force, self-check, then keep or roll back; report the outcome."""
        version = desired.version
        handled = {HANDLED_KEY: version}
        try:
            merged = merge_remote(self.base, desired.config, version=version)
        except ConfigError as err:
            error = _issues_text(err)
            log.warning("desired configuration %d rejected: %s", version, error)
            self._record(version, "rejected", error, handled)
            return "rejected"
        previous = self.target.config
        updates: dict[str, Any] = {name: getattr(merged, name) for name in REMOTE_SECTIONS}
        updates["config_version"] = version
        candidate = previous.model_copy(update=updates)
        self.target.replace_config(candidate)
        problems = self_check(candidate, previous, self.checks)
        if problems:
            self.target.replace_config(previous)
            error = "; ".join(problems)
            log.warning("desired configuration %d rolled back: %s", version, error)
            self._record(version, "rolled_back", error, handled)
            return "rolled_back"
        stored = {STORED_KEY: {"version": version, "config": desired.config}}
        try:
            self._report(version, "applied", None, {**handled, **stored})
        except StorageError as err:
            # Not stored, so it would not survive a restart: do not keep it in force.
            self.target.replace_config(previous)
            log.error("desired configuration %d rolled back: cannot store it: %s", version, err)
            return "rolled_back"
        self.handled = version
        log.info("desired configuration %d applied", version)
        return "applied"

    def report_dropped(self, restored: Restored) -> None:
        """Report (at start) a stored overlay that no longer fits the file, and forget it."""
        if restored.dropped_version is None:
            return
        self._record(
            restored.dropped_version,
            "rolled_back",
            restored.error,
            {STORED_KEY: None, HANDLED_KEY: max(self.handled, restored.dropped_version)},
        )

    def _reject_unreadable(self, payload: bytes, error: str) -> None:
        """A desired configuration that does not parse: rejected if it names a new version."""
        version = _salvage_version(payload)
        if version is None or version <= self.current_version:
            log.warning("unreadable desired configuration ignored: %s", error)
            return
        log.warning("desired configuration %d rejected: %s", version, error)
        self._record(version, "rejected", error, {HANDLED_KEY: version})

    def _record(
        self, version: int, status: ConfigStatus, error: str | None, meta: dict[str, Any]
    ) -> None:
        try:
            self._report(version, status, error, meta)
        except StorageError:
            log.exception("cannot store the %s report of configuration %d", status, version)
            return
        self.handled = max(self.handled, version)

    def _report(
        self, version: int, status: ConfigStatus, error: str | None, meta: dict[str, Any]
    ) -> None:
        messages = self.messages
        self.outbox.append(
            messages.topic(TopicKind.CONFIG_REPORTED),
            messages.build(
                ConfigReported,
                version=version,
                status=status,
                error=None if error is None else _clip(error),
            ),
            droppable=False,
            retain=True,
            meta=meta,
        )


def _salvage_version(payload: bytes) -> int | None:
    """The ``version`` of a payload that failed validation, when it has a usable one."""
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    version = data.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version >= 1:
        return version
    return None
