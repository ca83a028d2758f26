"""The agent runtime: one bin's periodic work on an injected clock.

``step()`` does whatever is due (fill sampling, telemetry, health, alarm and fault
checks, the intake state machine, incoming commands) and returns the monotonic time
at which it wants to run next. ``run()`` calls it in a loop on real time; the fleet
simulator instead calls it from its own virtual-time scheduler, so hundreds of bins
share one thread and run faster than real time.

Every message goes through the outbox (durable before publish); the runtime never
talks to the broker directly except for retained state through the link.

:class:`AgentRuntime` builds the parts that do the work and runs them in order: the
writes and their retries (:mod:`~agent.runtime.writes`), alarms and faults
(:mod:`~agent.runtime.alarms`), the door lock (:mod:`~agent.runtime.lock`), deposits
and the tray (:mod:`~agent.runtime.deposits`), the container's fill and temperature
(:mod:`~agent.runtime.container`), the door and network watches
(:mod:`~agent.runtime.watches`), telemetry and health (:mod:`~agent.runtime.reports`)
and incoming messages (:mod:`~agent.runtime.inbox`). Its other methods are the few
operations the rest of the agent asks of a running bin.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from agent.clock import Clock
from agent.errors import StorageError
from agent.hardware.devices import BinHardware, Device, DeviceError
from agent.intake import Decision, DepositClassifier, IntakeMachine, Phase
from agent.link.messages import MessageFactory
from agent.runtime.alarms import Alarms, FlapJamLatch
from agent.runtime.container import Container
from agent.runtime.deposits import Deposits
from agent.runtime.inbox import Inbox
from agent.runtime.lock import DoorLock
from agent.runtime.reports import Reports
from agent.runtime.schedule import CHECK_PERIOD_S, Schedule, task_periods
from agent.runtime.watches import DoorWatch, NetworkWatch
from agent.runtime.writes import DurableWrites
from agent.storage.localdb import LocalDb
from agent.storage.outbox import Outbox
from agent.storage.state import BinState
from firmware_config.schema import DeviceConfig, Thresholds
from protocol.messages import ComponentHealth

log = logging.getLogger(__name__)

EDGE_SAFETY_POLL_S = 1.0
"""Idle poll of the door when its edges wake the runtime: only a missed edge waits for it."""
LOOP_ERROR_PAUSE_S = 1.0
"""Pause of ``run()`` after a step that failed unexpectedly (no busy loop on a bug)."""
FILL_AFTER_DEPOSIT_S = 2.0
"""The fill is re-measured this soon after items reached the container."""
FILL_RETRY_BUSY_S = 5.0
"""A fill sample due during a deposit or with the door open waits this long."""

_T = TypeVar("_T")

StepHook = Callable[[float], float | None]
"""A component driven by the runtime: called with the monotonic time, returns its next wake-up."""


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
        self.outbox = outbox
        self._messages = messages
        self.idle_poll_s = idle_poll_s
        self.state = BinState.load(db)
        self.schedule = Schedule()
        self.hooks: list[StepHook] = []
        self.link_status: Callable[[], tuple[bool, int]] = lambda: (False, 0)
        """Whether the broker connection is up and how many reconnects it took (the
        agent sets it once the link exists)."""
        self._wake = threading.Event()
        self._step_lock = threading.RLock()
        self._telemetry_after_fill = False
        self._writes = DurableWrites(
            db=db,
            outbox=outbox,
            messages=messages,
            state=self.state,
            clock=clock,
            schedule=self.schedule,
            config=self._config,
            storage_fault=self._set_storage_fault,
        )
        self._deposits = Deposits(
            self.state,
            hardware,
            emit=self._writes.emit_event,
            check_devices=self.check_devices,
            fill_changed=self._measure_fill_soon,
        )
        self.deposit_listeners = self._deposits.listeners
        """Called with every decision once it is stored (simulator displays, tests)."""
        self._door_lock = DoorLock(self.state, hardware, self._writes.save_state)
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
                on_jam_cleared=self._deposits.count_jammed,
                camera_timeout_s=config.intake.capture_timeout_s,
            )
            self.hooks.append(self.intake.step)
            monitored.append(self.intake.classifier_health)
        self._alarms = Alarms(self.state, self._writes.emit_event, monitored)
        if self.intake is not None and (
            self.state.jammed_deposit is not None or "flap_jammed" in self.state.lock_reasons
        ):
            log.warning("the flap was jammed before the restart: the door stays locked")
            self.intake.restore_jam()
        self._container = Container(
            self.state,
            hardware,
            thresholds=self._thresholds,
            alarms=self._alarms,
            lock=self._door_lock,
            writes=self._writes,
        )
        self._reports = Reports(
            self.state,
            hardware,
            clock,
            outbox=outbox,
            messages=messages,
            config=self._config,
            link_status=self._link_status,
            sensor_health=self._alarms.sensor_health,
            tray_idle_g=self.tray_idle_g,
            model_version=classifier.version if classifier else "none",
        )
        self._door_watch = DoorWatch(
            hardware,
            thresholds=self._thresholds,
            lock=self._door_lock,
            alarms=self._alarms,
            on_open=self._deposits.door_seen_open,
        )
        self._network_watch = NetworkWatch(
            self._link_status, thresholds=self._thresholds, alarms=self._alarms
        )
        self._inbox = Inbox(
            bin_id=config.identity.bin_id,
            topic_prefix=config.broker.topic_prefix,
            wake=self.wake,
        )
        self.handlers = self._inbox.handlers
        """The handler of each kind of cloud-to-bin message (the agent fills it in)."""
        self._door_lock.apply()
        self.edge_wakes = self._listen_for_edges()
        """Whether door edges wake the runtime (then the idle poll is only a safety net)."""

    # -- what the parts read of the runtime ----------------------------------------------

    def _config(self) -> DeviceConfig:
        """The configuration in force (a remote configuration may replace it)."""
        return self.config

    def _thresholds(self) -> Thresholds:
        return self.config.thresholds

    def _link_status(self) -> tuple[bool, int]:
        return self.link_status()

    def _set_storage_fault(self, code: str | None, detail: str | None) -> None:
        self._alarms.set_fault("storage", code, detail)

    def _measure_fill_soon(self) -> None:
        """Items reached the container: re-measure the fill with the door closed, then
        send telemetry (design: deposit flow)."""
        self.schedule.due["fill"] = self.clock.monotonic() + FILL_AFTER_DEPOSIT_S
        self._telemetry_after_fill = True

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

    # -- what the rest of the agent asks of a running bin --------------------------------

    @property
    def model_version(self) -> str:
        """The classifier model's version (``none`` without a classifier)."""
        return self._reports.model_version

    def config_version(self) -> int:
        """The version of the configuration in force."""
        return self.config.config_version

    def uptime_s(self) -> float:
        """Seconds since the runtime started, rounded to a tenth."""
        return self._reports.uptime_s()

    def record_deposit(self, decision: Decision) -> None:
        """Store a decision of the intake (see :meth:`Deposits.record`)."""
        self._deposits.record(decision)

    def deposit_in_progress(self) -> bool:
        """Whether the intake is between a door opening and its decision."""
        return self.intake is not None and self.intake.busy

    def tray_idle_g(self) -> float | None:
        """The tray's weight while it is known empty, else None (see :class:`Deposits`)."""
        return self._deposits.tray_idle_g(self.intake)

    def tray_occupied(self) -> str | None:
        """Why the tray may hold an item now; None when it is known empty."""
        return self._deposits.tray_occupied(self.intake)

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
        self._door_lock.request(reason, locked)

    def lock_reasons(self) -> list[str]:
        """Why the door is locked (empty: it is not)."""
        return list(self.state.lock_reasons)

    def door_locked(self) -> bool:
        """Whether the lock is energised now."""
        return self.hardware.lock.locked

    def show_state(self) -> None:
        """Light the indicators for the bin's state again (after a self-test cycled
        them: amber while the bin is full) and re-read every device's health."""
        if "overflow" in self.state.active_alarms:
            self.hardware.indicators.show("amber")
        self.check_devices()

    def emit_event(self, event_type: str, fields: dict[str, Any]) -> int | None:
        """Store an ``events/{type}`` message with the bin's state (see :class:`DurableWrites`)."""
        return self._writes.emit_event(event_type, fields)

    def emit_telemetry(self) -> int | None:
        """Store a telemetry message built from the latest measurements."""
        return self._reports.emit_telemetry()

    def emit_health(self) -> int | None:
        """Store a health summary."""
        return self._reports.emit_health()

    def door_state(self) -> str:
        """``locked``, ``open`` or ``closed`` as telemetry reports it."""
        return self._reports.door_state()

    def set_alarm(self, kind: str, active: bool, detail: str | None = None) -> None:
        """Raise or clear an alarm; only changes produce an event."""
        self._alarms.set_alarm(kind, active, detail)

    def sensor_health(self) -> dict[str, ComponentHealth]:
        """Worst health per contract component, for ``health.sensors``."""
        return self._alarms.sensor_health()

    def check_devices(self) -> None:
        """Turn device status changes into fault events (raised once, cleared once)."""
        self._alarms.check_devices()

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
            self._messages.config = config
            if self.intake is not None:
                self.intake.policy = config.intake
            intervals = config.intervals
            if self.idle_poll_s is not None:
                self.idle_poll_s = intervals.door_poll_ms / 1000.0
            self.schedule.bring_forward(task_periods(intervals), now)

    def receive(self, topic: str, payload: bytes) -> None:
        """Queue a cloud-to-bin message (called on the MQTT thread; never blocks)."""
        self._inbox.receive(topic, payload)

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
            self._guarded("the inbox", lambda: self._inbox.process(self._guarded))
            for hook in self.hooks:
                wanted = self._guarded(None, functools.partial(hook, now))
                if wanted is not None:
                    wakeups.append(wanted)
            # after the hooks: one may replace the config
            periods = task_periods(self.config.intervals)
            busy = self.deposit_in_progress()
            schedule = self.schedule
            self._guarded("the door check", lambda: self._door_watch.check(now))
            if "retry_writes" in schedule.due and schedule.is_due("retry_writes", now):
                self._guarded("retrying writes", self._writes.retry)
            if schedule.is_due("temperature", now):
                schedule.after("temperature", now, periods["temperature"])
                self._guarded("the temperature sample", self._container.sample_temperature)
            if schedule.is_due("fill", now):
                if busy or self._door_reads_open():
                    schedule.after("fill", now, FILL_RETRY_BUSY_S)
                else:
                    schedule.after("fill", now, periods["fill"])
                    self._guarded("the fill sample", self._container.sample_fill)
                    if self._telemetry_after_fill or self._reports.fill_moved():
                        self._telemetry_after_fill = False
                        schedule.due["telemetry"] = now
            if schedule.is_due("telemetry", now):
                schedule.after("telemetry", now, periods["telemetry"])
                self._guarded("telemetry", self._reports.emit_telemetry)
            if schedule.is_due("checks", now):
                schedule.after("checks", now, CHECK_PERIOD_S)
                self._guarded("the device checks", self._alarms.check_devices)
                self._guarded("the storage check", self._writes.check_storage)
                self._guarded("the network check", lambda: self._network_watch.check(now))
            if schedule.is_due("health", now):
                schedule.after("health", now, periods["health"])
                self._guarded("health", self._reports.emit_health)
            candidates = [schedule.next(), *wakeups]
            door_alarm = self._door_watch.alarm_due()
            if door_alarm is not None:
                candidates.append(door_alarm)
            if self.idle_poll_s is not None:
                poll = self.idle_poll_s
                if self.edge_wakes:
                    poll = max(poll, EDGE_SAFETY_POLL_S)
                candidates.append(now + poll)
            return max(min(candidates), now)

    def _door_reads_open(self) -> bool:
        """Whether the switch says open (an unreadable switch does not stop fill samples:
        a dead switch must not blind the bin to its own overflow)."""
        try:
            return self.hardware.door.is_open()
        except DeviceError:
            return False

    def _guarded(self, what: str | None, task: Callable[[], _T]) -> _T | None:
        """Run one task; a failure is logged (and a refused write faulted), never raised.

        ``what`` names the task in the log; None names it after the function (worked
        out only on a failure: hooks run on every step).
        """
        try:
            return task()
        except StorageError as err:
            log.error("%s failed: %s", what or _task_name(task), err)
            self._writes.write_failed(err)
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
