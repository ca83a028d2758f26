"""The agent runtime: one bin's periodic work on an injected clock.

``step()`` does whatever is due (fill sampling, telemetry, health, alarm and fault
checks, the intake state machine, incoming commands) and returns the monotonic time
at which it wants to run next. ``run()`` calls it in a loop on real time; the fleet
simulator instead calls it from its own virtual-time scheduler, so hundreds of bins
share one thread and run faster than real time.

Every message goes through the outbox (durable before publish); the runtime never
talks to the broker directly except for retained state through the link.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from agent import __version__
from agent.bin_state import STATE_KEY, BinState, JammedDeposit
from agent.clock import Clock
from agent.devices import BinHardware, Device, DeviceError, DeviceStatus
from agent.emptying import is_emptying
from agent.errors import StorageError
from agent.fault_monitor import FaultMonitor
from agent.intake import Decision, DepositClassifier, IntakeMachine, Phase
from agent.messages import MODELS_BY_EVENT, MessageFactory
from agent.storage.localdb import LocalDb
from agent.storage.outbox import Outbox
from agent.sysinfo import cpu_temp_c, disk_free_mb
from firmware_config.schema import DeviceConfig
from protocol.errors import UnknownTopic
from protocol.messages import ComponentHealth, Health, Telemetry
from protocol.topics import BinTopic, TopicKind, parse_bin_topic

log = logging.getLogger(__name__)

CHECK_PERIOD_S = 30.0
"""How often storage, network and device health are looked at between operations."""
WRITE_RETRY_S = 1.0
"""How often writes are tried again while the agent database refuses them."""
EDGE_SAFETY_POLL_S = 1.0
"""Idle poll of the door when its edges wake the runtime: only a missed edge waits for it."""
LOOP_ERROR_PAUSE_S = 1.0
"""Pause of ``run()`` after a step that failed unexpectedly (no busy loop on a bug)."""

_T = TypeVar("_T")

InboundHandler = Callable[[bytes], None]
"""Handles the payload of one cloud-to-bin message (``cmd``, ``config/desired``)."""

StepHook = Callable[[float], float | None]
"""A component driven by the runtime: called with the monotonic time, returns its next wake-up."""


@dataclass
class Schedule:
    """Next due time (monotonic seconds) of each periodic task."""

    due: dict[str, float] = field(default_factory=dict)

    def is_due(self, task: str, now: float) -> bool:
        """Whether ``task`` should run at ``now``."""
        return now >= self.due.get(task, 0.0)

    def after(self, task: str, now: float, period: float) -> None:
        """Schedule ``task`` again ``period`` seconds after ``now``."""
        self.due[task] = now + period

    def next(self) -> float:
        """The earliest due time of any task."""
        return min(self.due.values(), default=0.0)


class FlapJamLatch:
    """The ``flap``/``jammed`` fault as the intake knows it, for the fault monitor.

    The flap driver reports a jam only after a failed cycle, and a restarted driver
    reports ``ok`` before it has moved: this latch keeps the fault raised from the jam
    until the flap is seen working again, across restarts.
    """

    component = "flap"

    def __init__(self, jammed: Callable[[], bool]) -> None:
        self._jammed = jammed

    def status(self) -> DeviceStatus:
        """Failed while the intake holds a jam."""
        if self._jammed():
            return DeviceStatus(
                "failed", "jammed", "flap jammed with an item on the tray; door locked"
            )
        return DeviceStatus.ok()


class AgentRuntime:
    """Everything one bin does between its sensors and its outbox."""

    def __init__(
        self,
        config: DeviceConfig,
        hardware: BinHardware,
        clock: Clock,
        *,
        db: LocalDb,
        outbox: Outbox,
        messages: MessageFactory,
        idle_poll_s: float | None = None,
        classifier: DepositClassifier | None = None,
    ) -> None:
        self.config = config
        self.hardware = hardware
        self.clock = clock
        self.db = db
        self.outbox = outbox
        self.messages = messages
        self.idle_poll_s = idle_poll_s
        self.model_version = classifier.version if classifier else "none"
        self.state = BinState.load(db)
        self.schedule = Schedule()
        self.started_at = clock.monotonic()
        self.hooks: list[StepHook] = []
        self.deposit_listeners: list[Callable[[Decision], None]] = []
        """Called with every decision once it is stored (simulator displays, tests)."""
        self.link_status: Callable[[], tuple[bool, int]] = lambda: (False, 0)
        self._door_opened_at: float | None = None
        self._offline_since: float | None = None
        self._wake = threading.Event()
        self.inbox: queue.SimpleQueue[tuple[BinTopic, bytes]] = queue.SimpleQueue()
        self.handlers: dict[TopicKind, InboundHandler] = {}
        self._foreign_topics: set[str] = set()
        self._step_lock = threading.RLock()
        self._telemetry_after_fill = False
        self._reported_fill: float | None = None
        self._rejected_on_tray = False
        """A rejected item may still lie on the tray (until the door opens again)."""
        self._unsaved: list[tuple[str, dict[str, Any]]] = []
        """Events that could not be stored yet (database refusing writes), oldest first."""
        self._write_error: str | None = None
        """Why the latest write failed; None once writes succeed again."""
        device_faults: dict[tuple[str, str], str | None] = {}
        for key, detail in self.state.active_faults.items():
            component, _, code = key.partition("/")
            if component not in ("storage", "network"):
                device_faults[(component, code)] = detail
        self.intake: IntakeMachine | None = None
        latch = FlapJamLatch(lambda: self.intake is not None and self.intake.phase is Phase.JAMMED)
        monitored: list[Device] = [*hardware.devices(), latch]
        if classifier is not None:
            self.intake = IntakeMachine(
                hardware,
                config.intake,
                classifier,
                self.record_deposit,
                clock=clock,
                lock_requests=self.request_lock,
                on_jam_cleared=self._count_jammed_deposit,
                camera_timeout_s=config.intake.capture_timeout_s,
            )
            self.hooks.append(self.intake.step)
            monitored.append(self.intake.classifier_health)
            if self.state.jammed_deposit is not None or "flap_jammed" in self.state.lock_reasons:
                log.warning("the flap was jammed before the restart: the door stays locked")
                self.intake.restore_jam()
        self.fault_monitor = FaultMonitor(monitored, self._record_fault, initial=device_faults)
        self._lock_deferred = False
        self._apply_lock()
        self.edge_wakes = self._listen_for_edges()
        """Whether door edges wake the runtime (then the idle poll is only a safety net)."""

    def _listen_for_edges(self) -> bool:
        """Ask the door switch and the beam to wake the runtime at every edge, so a door
        closing is seen at once, not at the next poll; True when the door can."""
        door_wakes = False
        for device in (self.hardware.door, self.hardware.beam):
            add = getattr(device, "add_edge_listener", None)
            if callable(add):
                wakes = bool(add(self.wake))
                door_wakes = door_wakes or (wakes and device is self.hardware.door)
        return door_wakes

    # -- deposits and the door lock --------------------------------------------------

    def record_deposit(self, decision: Decision) -> None:
        """Store the deposit event; count accepted items; re-measure the fill soon.

        A deposit held by a jammed flap is remembered (with the event, in one write) and
        counted once the flap works (:meth:`_count_jammed_deposit`).
        """
        jammed = decision.reason == "flap_jammed"
        self._rejected_on_tray = not decision.accepted and not jammed
        if jammed:
            self.state.jammed_deposit = JammedDeposit(
                deposit_id=decision.deposit_id,
                category=decision.category,
                weight_g=decision.weight_g,
            )
        if decision.accepted:
            self.state.deposits_since_empty += 1
            self.state.contents_g += decision.weight_g
            # Fill re-measured with the door closed, then telemetry (design: deposit flow).
            self.schedule.due["fill"] = self.clock.monotonic() + 2.0
            self._telemetry_after_fill = True
        self.emit_event("deposit", asdict(decision))
        for listener in self.deposit_listeners:
            listener(decision)
        self.check_devices()

    def _count_jammed_deposit(self) -> None:
        """The jammed item is in the container now: count it, once (no second event)."""
        jammed = self.state.jammed_deposit
        if jammed is None:
            return
        log.info("deposit %s reached the container once the flap worked", jammed.deposit_id)
        self.state.jammed_deposit = None
        self.state.deposits_since_empty += 1
        self.state.contents_g += jammed.weight_g
        self.schedule.due["fill"] = self.clock.monotonic() + 2.0
        self._telemetry_after_fill = True

    def clear_jam(self) -> bool:
        """Cycle a jammed flap (technician or remote ``unlock``); True when it works."""
        if self.intake is None:
            return True
        with self._step_lock:
            cleared = self.intake.clear_jam()
            self.check_devices()
            return cleared

    def request_lock(self, reason: str, locked: bool) -> None:
        """Lock the intake door while any reason holds (overflow, jam, remote)."""
        reasons = set(self.state.lock_reasons)
        if locked:
            reasons.add(reason)
        else:
            reasons.discard(reason)
        if reasons == set(self.state.lock_reasons):
            return
        self.state.lock_reasons = sorted(reasons)
        # The door first: a database refusing writes must not leave it unlocked.
        self._apply_lock()
        self.save_state()

    def _apply_lock(self, door_open: bool | None = None) -> None:
        """Drive the lock to what the reasons want: unlocking at once, locking only once
        the door is seen closed (never on an open door, nor one whose switch cannot be
        read). ``door_open`` is a switch reading just taken (None: read it now)."""
        wanted = bool(self.state.lock_reasons)
        if wanted == self.hardware.lock.locked:
            self._lock_deferred = False
            return
        if wanted:
            if door_open is None:
                try:
                    door_open = self.hardware.door.is_open()
                except DeviceError:
                    door_open = True
            if door_open:
                if not self._lock_deferred:
                    log.warning(
                        "door lock (%s) deferred until the door is seen closed",
                        ", ".join(self.state.lock_reasons),
                    )
                    self._lock_deferred = True
                return
        self._lock_deferred = False
        self.hardware.lock.set_locked(wanted)

    # -- storage failures -------------------------------------------------------------

    def save_state(self, *, durable: bool = True) -> None:
        """Store the bin's state; a refused write raises the storage fault, never an error.

        The state in memory stays right, and it is written with the next stored event
        (or by the retry once writes succeed again).
        """
        try:
            self.state.save(self.db, durable=durable)
        except StorageError as err:
            self.write_failed(err)

    def write_failed(self, err: BaseException) -> None:
        """Note a refused write: log it once, raise ``storage``/``write_failed``, retry later."""
        detail = f"agent database write failed: {err}"
        if self._write_error is None:
            log.error("%s; the bin keeps serving, writes are retried", detail)
        self._retry_writes_later(detail)
        self.set_fault("storage", "write_failed", detail)

    def _retry_writes_later(self, detail: str) -> None:
        """Remember why writes fail and try them again in :data:`WRITE_RETRY_S`."""
        self._write_error = detail
        self.schedule.after("retry_writes", self.clock.monotonic(), WRITE_RETRY_S)

    def _retry_writes(self) -> None:
        """Store the events held back, then the state; clear the fault when both work."""
        self.schedule.due.pop("retry_writes", None)
        if not self._flush_unsaved():
            return
        try:
            self.state.save(self.db)
        except StorageError as err:
            self.write_failed(err)
            return
        log.warning("agent database writes succeed again: %s", self._write_error)
        self._write_error = None
        self._check_storage()

    def _flush_unsaved(self) -> bool:
        """Store the held-back events in order; False (and retry later) if one is refused."""
        while self._unsaved:
            event_type, fields = self._unsaved[0]
            try:
                self._store_event(event_type, fields)
            except StorageError as err:
                self._retry_writes_later(f"agent database write failed: {err}")
                return False
            self._unsaved.pop(0)
        return True

    # -- outgoing messages ------------------------------------------------------------

    def emit_event(self, event_type: str, fields: dict[str, Any]) -> int | None:
        """Store an ``events/{type}`` message durably (never dropped).

        The bin's state is written in the same transaction, so a counter or an alarm
        and the event reporting it are never out of step after a power loss. When the
        database refuses the write (disk full, locked), the event is held in memory, in
        order, and stored by the retry (returns None); the storage fault is raised.
        """
        if self._unsaved:
            self._unsaved.append((event_type, fields))
            return None
        try:
            return self._store_event(event_type, fields)
        except StorageError as err:
            self._unsaved.append((event_type, fields))
            self.write_failed(err)
            return None

    def _store_event(self, event_type: str, fields: dict[str, Any]) -> int | None:
        model = MODELS_BY_EVENT[event_type]
        return self.outbox.append(
            self.messages.topic(TopicKind.EVENT, event_type),
            self.messages.build(model, **fields),
            droppable=False,
            meta={STATE_KEY: self.state.dump()},
        )

    def emit_telemetry(self) -> int | None:
        """Store a telemetry message built from the latest measurements."""
        self._reported_fill = self.state.fill_pct
        return self.outbox.append(
            self.messages.topic(TopicKind.TELEMETRY),
            self.messages.build(
                Telemetry,
                fill_pct=self.state.fill_pct,
                fill_mm=self.state.fill_mm,
                weight_kg=round(self.state.contents_g / 1000.0, 3),
                temp_c=self.state.temp_c,
                door=self.door_state(),
                deposits_since_empty=self.state.deposits_since_empty,
            ),
            droppable=True,
        )

    def emit_health(self) -> int | None:
        """Store a health summary."""
        stats = self.outbox.stats()
        _, reconnects = self.link_status()
        return self.outbox.append(
            self.messages.topic(TopicKind.HEALTH),
            self.messages.build(
                Health,
                uptime_s=round(self.clock.monotonic() - self.started_at, 1),
                cpu_temp_c=cpu_temp_c(),
                disk_free_mb=disk_free_mb(self.config.storage.path),
                outbox_depth=stats.depth,
                outbox_oldest_s=round(stats.oldest_age_s, 1),
                outbox_dropped=stats.dropped,
                reconnects=reconnects,
                agent_version=__version__,
                config_version=self.config.config_version,
                model_version=self.model_version,
                sensors=self.sensor_health(),
                tray_idle_g=self.tray_idle_g(),
            ),
            droppable=True,
        )

    def tray_idle_g(self) -> float | None:
        """The tray's weight while it is known empty (its drift from zero), else None.

        Read only between deposits with the door closed, never after a rejected item
        that may still lie there (until the door opens again), and never while the
        flap is jammed with an item on the tray. A scale failure gives None.
        """
        intake = self.intake
        if intake is None or intake.phase is not Phase.IDLE or self._rejected_on_tray:
            return None
        try:
            if self.hardware.door.is_open():
                return None
            return round(self.hardware.scale.read_g(), 1)
        except DeviceError:
            return None

    def tray_occupied(self) -> str | None:
        """Why the tray may hold an item now (None: known empty as far as the bin can tell).

        A tare then would take the item for the zero, and a self-test's flap cycle would
        drop it uncounted: a deposit in progress, a jammed flap (its item still lies on
        the tray), a rejected item not yet taken back, or a broken beam.
        """
        intake = self.intake
        if intake is not None:
            if intake.busy:
                return "a deposit is in progress"
            if intake.phase is Phase.JAMMED:
                return "the flap is jammed with an item on the tray"
        if self._rejected_on_tray:
            return "a rejected item may still lie on the tray"
        try:
            if self.hardware.beam.is_broken():
                return "the intake beam is broken: something is in the chamber"
        except DeviceError:
            pass  # a failed beam says nothing about the tray (the self-test reports it)
        return None

    # -- alarms and faults --------------------------------------------------------------

    def set_alarm(self, kind: str, active: bool, detail: str | None = None) -> None:
        """Raise or clear an alarm; only changes produce an event."""
        if active == (kind in self.state.active_alarms):
            return
        if active:
            self.state.active_alarms[kind] = detail
        else:
            self.state.active_alarms.pop(kind, None)
        log.warning("alarm %s %s: %s", kind, "raised" if active else "cleared", detail)
        self.emit_event("alarm", {"kind": kind, "active": active, "detail": detail})

    def _record_fault(self, component: str, code: str, active: bool, detail: str | None) -> None:
        """Store one fault transition with the state that remembers it (one transaction)."""
        key = f"{component}/{code}"
        if active:
            self.state.active_faults[key] = detail
        else:
            self.state.active_faults.pop(key, None)
        fields = {"component": component, "code": code, "active": active, "detail": detail}
        self.emit_event("fault", fields)

    def set_fault(self, component: str, code: str | None, detail: str | None = None) -> None:
        """Set the one fault of a non-device component (storage, network); None clears it."""
        prefix = f"{component}/"
        current = [k for k in self.state.active_faults if k.startswith(prefix)]
        if current == ([f"{prefix}{code}"] if code else []):
            return
        for key in current:
            log.info("fault %s cleared", key)
            self._record_fault(component, key[len(prefix) :], False, "recovered")
        if code is not None:
            log.warning("fault %s/%s: %s", component, code, detail)
            self._record_fault(component, code, True, detail)

    def sensor_health(self) -> dict[str, ComponentHealth]:
        """Worst health per contract component, for ``health.sensors``."""
        sensors = self.fault_monitor.sensors()
        for component in ("storage", "network"):
            faulty = any(k.startswith(f"{component}/") for k in self.state.active_faults)
            sensors[component] = "degraded" if faulty else "ok"
        return sensors

    def check_devices(self) -> None:
        """Turn device status changes into fault events (raised once, cleared once)."""
        self.fault_monitor.poll()

    # -- measurements -------------------------------------------------------------------

    def door_state(self) -> str:
        """``locked``, ``open`` or ``closed`` as telemetry reports it."""
        if self.hardware.lock.locked:
            return "locked"
        try:
            return "open" if self.hardware.door.is_open() else "closed"
        except DeviceError:
            return "open"  # fail-safe: a door nobody can see is not known closed

    def _door_reads_open(self) -> bool:
        """Whether the switch says open (an unreadable switch does not stop fill samples:
        a dead switch must not blind the bin to its own overflow)."""
        try:
            return self.hardware.door.is_open()
        except DeviceError:
            return False

    def _fill_moved(self) -> bool:
        """Whether the fill changed enough since the last telemetry to report it now."""
        now, then = self.state.fill_pct, self._reported_fill
        if now is None or then is None:
            return now is not then
        return abs(now - then) >= self.config.thresholds.report_fill_step_pct

    def sample_temperature(self) -> None:
        """Read the container temperature (speed of sound, fire alarm)."""
        temp = self.hardware.temperature.read_c()
        self.state.temp_c = None if temp is None else round(temp, 1)
        self._check_fire(temp)

    def sample_fill(self) -> None:
        """Measure the fill, then apply the overflow and emptied rules."""
        try:
            reading = self.hardware.fill.measure(self.state.temp_c)
        except DeviceError as err:
            log.warning("fill measurement failed: %s", err)
            self.state.fill_pct = None
            self.state.fill_mm = None
            self.save_state(durable=False)
            self.check_devices()
            return
        previous = self.state.fill_pct
        self.state.fill_pct = round(reading.fill_pct, 1)
        self.state.fill_mm = round(reading.distance_mm, 1)
        self._check_emptied(previous, reading.fill_pct)
        if previous is not None:
            # a level seen on two readings in a row: one wild reading makes no peak
            seen_twice = min(previous, reading.fill_pct)
            self.state.fill_peak_pct = max(self.state.fill_peak_pct, seen_twice)
        self._check_overflow(reading.fill_pct)
        self.save_state(durable=False)
        self.check_devices()

    def _check_fire(self, temp: float | None) -> None:
        limit = self.config.thresholds.fire_temp_c
        if temp is None:
            return
        if temp >= limit:
            self.set_alarm("fire", True, f"container at {temp:.1f} °C (limit {limit:.0f} °C)")
        elif temp < limit - 5.0:
            self.set_alarm("fire", False)

    def _check_overflow(self, fill: float) -> None:
        thresholds = self.config.thresholds
        if fill >= thresholds.lock_fill_pct and "overflow" not in self.state.active_alarms:
            self.request_lock("overflow", True)
            self.hardware.indicators.show("amber")
            self.set_alarm(
                "overflow",
                True,
                f"fill {fill:.0f}% >= {thresholds.lock_fill_pct:.0f}%: door locked",
            )
        elif fill < thresholds.unlock_fill_pct and "overflow" in self.state.active_alarms:
            self.request_lock("overflow", False)
            self.hardware.indicators.show(None)
            self.set_alarm("overflow", False, f"fill {fill:.0f}%: door unlocked")

    def _check_emptied(self, previous: float | None, fill: float) -> None:
        """Two consecutive readings well below the peak mean the container was emptied
        (:func:`agent.emptying.is_emptying`)."""
        thresholds = self.config.thresholds
        if not is_emptying(
            self.state.fill_peak_pct,
            fill,
            drop_pct=thresholds.empty_drop_pct,
            below_pct=thresholds.empty_below_pct,
            min_drop_pct=thresholds.empty_min_drop_pct,
        ):
            self.state.empty_candidate = False
            return
        if not self.state.empty_candidate:
            self.state.empty_candidate = True
            return
        fields = {
            "fill_before_pct": round(min(self.state.fill_peak_pct, 100.0), 1),
            "fill_after_pct": round(fill, 1),
            "weight_before_kg": round(self.state.contents_g / 1000.0, 3),
            "pickup_id": None,
        }
        log.info("container emptied (fill %.0f%% -> %.0f%%)", self.state.fill_peak_pct, fill)
        self.state.empty_candidate = False
        self.state.fill_peak_pct = fill
        self.state.deposits_since_empty = 0
        self.state.contents_g = 0.0
        self.emit_event("emptied", fields)

    def _check_door(self, now: float) -> None:
        try:
            is_open = self.hardware.door.is_open()
        except DeviceError:
            self._apply_lock(door_open=True)  # unknown counts as open: never lock on it
            return
        self._apply_lock(door_open=is_open)
        if is_open:
            self._rejected_on_tray = False  # the consumer can take the item back
        if not is_open:
            self._door_opened_at = None
            self.set_alarm("door_stuck", False)
            return
        if self._door_opened_at is None:
            self._door_opened_at = now
        limit = self.config.thresholds.door_open_alarm_s
        if now - self._door_opened_at >= limit:
            self.set_alarm("door_stuck", True, f"door open for more than {limit:.0f} s")

    def _check_storage(self) -> None:
        if self._write_error is not None:  # the worst storage fault while it lasts
            self.set_fault("storage", "write_failed", self._write_error)
            return
        stats = self.outbox.stats()
        free = disk_free_mb(self.config.storage.path)
        if free < self.config.thresholds.low_disk_mb:
            self.set_fault("storage", "low_disk", f"{free:.0f} MB free")
        elif stats.over_limit:
            self.set_fault(
                "storage", "outbox_full", f"{stats.depth} rows, {stats.bytes} bytes of events"
            )
        else:
            self.set_fault("storage", None)

    def _check_network(self, now: float) -> None:
        connected, _ = self.link_status()
        if connected:
            self._offline_since = None
            self.set_fault("network", None)
            return
        if self._offline_since is None:
            self._offline_since = now
        elif now - self._offline_since >= self.config.thresholds.offline_fault_s:
            self.set_fault(
                "network", "offline", f"no broker connection for {now - self._offline_since:.0f} s"
            )

    # -- messages from the cloud ------------------------------------------------------

    def replace_config(self, config: DeviceConfig) -> None:
        """Put a new configuration in force (remote configuration, on the runtime thread).

        Only the sections the runtime reads afresh at every use may differ (see
        ``firmware_config.remote``); the intake policy and the message factory follow,
        and a periodic task already scheduled further ahead than its new period is
        brought forward.
        """
        with self._step_lock:
            now = self.clock.monotonic()
            self.config = config
            self.messages.config = config
            if self.intake is not None:
                self.intake.policy = config.intake
            intervals = config.intervals
            if self.idle_poll_s is not None:
                self.idle_poll_s = intervals.door_poll_ms / 1000.0
            periods = {
                "telemetry": intervals.telemetry_s,
                "health": intervals.health_s,
                "fill": intervals.fill_sample_s,
                "temperature": min(intervals.fill_sample_s, 30.0),
            }
            for task, period in periods.items():
                due = self.schedule.due.get(task)
                if due is not None and due > now + period:
                    self.schedule.due[task] = now + period

    def receive(self, topic: str, payload: bytes) -> None:
        """Queue a cloud-to-bin message (called on the MQTT thread; never blocks)."""
        try:
            parsed = parse_bin_topic(topic, prefix=self.config.broker.topic_prefix)
        except UnknownTopic as err:
            log.warning("ignoring a message: %s", err)
            return
        if parsed.bin_id != self.config.identity.bin_id:
            # The broker delivered another bin's message: an ACL or broker fault. Say so
            # once per topic, not once per message.
            if topic not in self._foreign_topics:
                self._foreign_topics.add(topic)
                log.warning(
                    "%s ignores a message meant for another bin on %s",
                    self.config.identity.bin_id,
                    topic,
                )
            return
        self.inbox.put((parsed, payload))
        self.wake()

    def _process_inbox(self) -> None:
        while True:
            try:
                parsed, payload = self.inbox.get_nowait()
            except queue.Empty:
                return
            handler = self.handlers.get(parsed.kind)
            if handler is None:
                log.warning("no handler for %s messages", parsed.kind.value)
                continue
            self._guarded(
                f"handling a {parsed.kind.value} message", functools.partial(handler, payload)
            )

    # -- the loop -----------------------------------------------------------------------

    def wake(self) -> None:
        """Ask ``run()`` to step now (an edge, a message); never blocks."""
        self._wake.set()

    def take_wake(self) -> bool:
        """Whether a wake was asked for since the last call (a virtual-time loop's
        ``run()``: it stops sleeping and steps)."""
        woken = self._wake.is_set()
        self._wake.clear()
        return woken

    def step(self) -> float:
        """Do what is due; return the monotonic time of the next wanted step.

        Each hook and each periodic task runs on its own: one that fails unexpectedly
        is logged (a refused database write raises the storage fault) and the others
        still run, so no error stops the bin from serving deposits.
        """
        with self._step_lock:
            now = self.clock.monotonic()
            wakeups: list[float] = []
            self._guarded("the inbox", self._process_inbox)
            for hook in self.hooks:
                wanted = self._guarded(None, functools.partial(hook, now))
                if wanted is not None:
                    wakeups.append(wanted)
            intervals = self.config.intervals  # after the hooks: one may replace the config
            busy = self.intake is not None and self.intake.busy
            self._guarded("the door check", lambda: self._check_door(now))
            if "retry_writes" in self.schedule.due and self.schedule.is_due("retry_writes", now):
                self._guarded("retrying writes", self._retry_writes)
            if self.schedule.is_due("temperature", now):
                self.schedule.after("temperature", now, min(intervals.fill_sample_s, 30.0))
                self._guarded("the temperature sample", self.sample_temperature)
            if self.schedule.is_due("fill", now):
                if busy or self._door_reads_open():
                    self.schedule.after("fill", now, 5.0)
                else:
                    self.schedule.after("fill", now, intervals.fill_sample_s)
                    self._guarded("the fill sample", self.sample_fill)
                    if self._telemetry_after_fill or self._fill_moved():
                        self._telemetry_after_fill = False
                        self.schedule.due["telemetry"] = now
            if self.schedule.is_due("telemetry", now):
                self.schedule.after("telemetry", now, intervals.telemetry_s)
                self._guarded("telemetry", self.emit_telemetry)
            if self.schedule.is_due("checks", now):
                self.schedule.after("checks", now, CHECK_PERIOD_S)
                self._guarded("the device checks", self.check_devices)
                self._guarded("the storage check", self._check_storage)
                self._guarded("the network check", lambda: self._check_network(now))
            if self.schedule.is_due("health", now):
                self.schedule.after("health", now, intervals.health_s)
                self._guarded("health", self.emit_health)
            candidates = [self.schedule.next(), *wakeups]
            if self._door_opened_at is not None:
                candidates.append(self._door_opened_at + self.config.thresholds.door_open_alarm_s)
            if self.idle_poll_s is not None:
                poll = self.idle_poll_s
                if self.edge_wakes:
                    poll = max(poll, EDGE_SAFETY_POLL_S)
                candidates.append(now + poll)
            return max(min(candidates), now)

    def _guarded(self, what: str | None, task: Callable[[], _T]) -> _T | None:
        """Run one task; a failure is logged (and a refused write faulted), never raised.

        ``what`` names the task in the log; None names it after the function (worked
        out only on a failure: hooks run on every step).
        """
        try:
            return task()
        except StorageError as err:
            log.error("%s failed: %s", what or _task_name(task), err)
            self.write_failed(err)
        except Exception:
            log.exception("%s failed; the agent carries on", what or _task_name(task))
        return None

    def run(self, stop: threading.Event) -> None:
        """Step on real time until ``stop`` is set; an unexpected error never ends it."""
        while not stop.is_set():
            try:
                wanted = self.step()
            except Exception:
                log.exception("a step failed; the agent carries on")
                wanted = self.clock.monotonic() + LOOP_ERROR_PAUSE_S
            delay = max(wanted - self.clock.monotonic(), 0.0)
            self._wake.wait(timeout=min(delay, 1.0))
            self._wake.clear()


def _task_name(task: Callable[[], Any]) -> str:
    """A task's name for the log: the function a partial wraps, else the callable's."""
    func = getattr(task, "func", task)
    return f"step of {getattr(func, '__qualname__', type(func).__name__)}"
