"""``SimGpio``: the RPi.GPIO API on a virtual clock, with pins wired to device models.

Time is virtual and kept in integer nanoseconds. It moves when a driver sleeps on
:attr:`SimGpio.clock`, by a configurable cost per GPIO call (a Pi's RPi.GPIO calls take
a microsecond or so; a pre-empted one much longer, see ``gpio_stall_*`` faults), and, when
a base clock is given, never falls behind it (so a real-time ``bin-agent run`` works).
Between calls time jumps from event to event (a conversion ready, an echo edge, a bounce),
edge callbacks run synchronously at the time of their edge, and every pin keeps a bounded,
timestamped history that tests assert on. Errors mimic RPi.GPIO's messages.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from agent.clock import Clock
from agent.hardware.hal import gpio as G
from agent.hardware.hal.gpio import EdgeCallback
from simulator.device.faults import FaultInjector
from simulator.pins.model import PinModel

HISTORY_LIMIT = 20_000
BOARD_TO_BCM = {
    3: 2, 5: 3, 7: 4, 8: 14, 10: 15, 11: 17, 12: 18, 13: 27, 15: 22, 16: 23, 18: 24, 19: 10,
    21: 9, 22: 25, 23: 11, 24: 8, 26: 7, 27: 0, 28: 1, 29: 5, 31: 6, 32: 12, 33: 13, 35: 19,
    36: 16, 37: 26, 38: 20, 40: 21,
}  # fmt: skip


@dataclass
class _Pin:
    direction: int | None = None
    pull: int = G.PUD_OFF
    out_level: int = 0
    level: int = 0
    edge: int | None = None
    callbacks: list[EdgeCallback] = field(default_factory=list)
    event: bool = False
    pwm: SimPwm | None = None
    history: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=HISTORY_LIMIT))


class SimPwm:
    """RPi.GPIO's PWM object on a simulated pin; keeps a (ns, frequency, duty) history."""

    def __init__(self, gpio: SimGpio, bcm: int, frequency: float) -> None:
        if frequency <= 0:
            raise ValueError("frequency must be greater than 0.0")
        self._gpio = gpio
        self._bcm = bcm
        self.frequency = float(frequency)
        self.duty = 0.0
        self.running = False
        self.history: deque[tuple[int, float, float]] = deque(maxlen=HISTORY_LIMIT)

    def start(self, dutycycle: float) -> None:
        """Start at ``dutycycle`` percent."""
        self.running = True
        self._set(self.frequency, dutycycle)

    def ChangeDutyCycle(self, dutycycle: float) -> None:
        """Change the duty cycle (0 to 100)."""
        self._set(self.frequency, dutycycle)

    def ChangeFrequency(self, frequency: float) -> None:
        """Change the frequency."""
        if frequency <= 0:
            raise ValueError("frequency must be greater than 0.0")
        self._set(float(frequency), self.duty)

    def stop(self) -> None:
        """Stop the pulses."""
        self.running = False
        self._set(self.frequency, 0.0)

    def _set(self, frequency: float, duty: float) -> None:
        if not 0.0 <= duty <= 100.0:
            raise ValueError("dutycycle must have a value from 0.0 to 100.0")
        self.frequency = frequency
        self.duty = float(duty) if self.running else 0.0
        self._gpio._pwm_changed(self._bcm, self)


class SimTimingClock:
    """The simulator's virtual time as an :class:`agent.hardware.hal.clock.TimingClock`."""

    def __init__(self, gpio: SimGpio) -> None:
        self._gpio = gpio

    def monotonic_ns(self) -> int:
        """Virtual nanoseconds."""
        return self._gpio.monotonic_ns()

    def monotonic(self) -> float:
        """Virtual seconds."""
        return self._gpio.monotonic_ns() / 1e9

    def sleep(self, seconds: float) -> None:
        """Advance virtual time (running every event on the way)."""
        self._gpio.sleep(seconds)


class SimGpio:
    """The RPi.GPIO calls of :class:`agent.hardware.hal.gpio.Gpio`, simulated."""

    BOARD = G.BOARD
    BCM = G.BCM
    OUT = G.OUT
    IN = G.IN
    LOW = G.LOW
    HIGH = G.HIGH
    PUD_OFF = G.PUD_OFF
    PUD_DOWN = G.PUD_DOWN
    PUD_UP = G.PUD_UP
    RISING = G.RISING
    FALLING = G.FALLING
    BOTH = G.BOTH

    def __init__(
        self,
        *,
        call_cost_ns: int = 1000,
        base_clock: Clock | None = None,
        faults: FaultInjector | None = None,
        rng: random.Random | None = None,
        edge_detection: bool = True,
    ) -> None:
        if call_cost_ns < 1:
            raise ValueError("call_cost_ns must be at least 1 ns (polling loops need time)")
        self.call_cost_ns = call_cost_ns
        self.edge_detection = edge_detection
        self.faults = faults or FaultInjector()
        self._rng = rng or random.Random(0)
        self._base = base_clock
        self._base_start = base_clock.monotonic() if base_clock else 0.0
        self._now = 0
        self._mode: int | None = None
        self._pins: dict[int, _Pin] = {}
        self._models: list[PinModel] = []
        self._drivers: dict[int, PinModel] = {}
        self._listeners: dict[int, list[PinModel]] = {}
        self._lock = threading.RLock()
        self._busy = 0
        self.calls = 0
        self.stalls = 0
        self.clock = SimTimingClock(self)

    # -- wiring -------------------------------------------------------------------------

    def attach(self, model: PinModel) -> PinModel:
        """Wire a device model to its pins (BCM numbers)."""
        with self._lock:
            for pin in model.driven:
                if pin in self._drivers:
                    raise ValueError(f"BCM {pin} is already driven by {self._drivers[pin]!r}")
                self._drivers[pin] = model
            for pin in model.listens:
                self._listeners.setdefault(pin, []).append(model)
            self._models.append(model)
            self._settle()
        return model

    def history(self, bcm: int) -> list[tuple[int, int]]:
        """(virtual ns, level) changes of a pin as the Pi saw or drove them."""
        with self._lock:
            return list(self._pin(bcm).history)

    def pwm_of(self, bcm: int) -> SimPwm | None:
        """The PWM object on a pin, if one was made."""
        with self._lock:
            return self._pin(bcm).pwm

    # -- time ----------------------------------------------------------------------------

    def monotonic_ns(self) -> int:
        """Virtual nanoseconds (caught up with the base clock when there is one)."""
        with self._lock:
            if not self._busy:
                self._follow_base()
            return self._now

    def sleep(self, seconds: float) -> None:
        """Advance virtual time by ``seconds``."""
        if seconds < 0:
            raise ValueError(f"cannot sleep {seconds} s")
        with self._lock:
            if self._busy:
                return
            self._follow_base()
            self._step_to(self._now + round(seconds * 1e9))

    # -- RPi.GPIO API ------------------------------------------------------------------

    def setmode(self, mode: int) -> None:
        """BCM or BOARD; changing it once set is a ValueError, as in RPi.GPIO."""
        if mode not in (G.BCM, G.BOARD):
            raise ValueError("An invalid mode was passed to setmode()")
        with self._lock:
            if self._mode is not None and self._mode != mode:
                raise ValueError("A different mode has already been set!")
            self._mode = mode

    def getmode(self) -> int | None:
        """The numbering mode, or None before setmode."""
        return self._mode

    def setwarnings(self, flag: bool) -> None:
        """Accepted and ignored (there is nothing to warn about)."""

    def setup(
        self, channel: int, direction: int, pull_up_down: int = G.PUD_OFF, initial: int = -1
    ) -> None:
        """Configure a channel as input or output."""
        with self._call():
            bcm = self._bcm(channel)
            if direction not in (G.IN, G.OUT):
                raise ValueError("An invalid direction was passed to setup()")
            if pull_up_down not in (G.PUD_OFF, G.PUD_UP, G.PUD_DOWN):
                raise ValueError(
                    "Invalid value for pull_up_down - should be either PUD_OFF, PUD_UP or PUD_DOWN"
                )
            if direction == G.OUT and pull_up_down != G.PUD_OFF:
                raise ValueError("pull_up_down parameter is not valid for outputs")
            pin = self._pin(bcm)
            pin.direction = direction
            pin.pull = pull_up_down
            if direction == G.OUT:
                self._drive(bcm, pin, 0 if initial == -1 else int(bool(initial)))
            else:
                pin.level = self._input_level(bcm, pin)
                pin.history.append((self._now, pin.level))

    def input(self, channel: int) -> int:
        """The level of a channel (an output reads back what it drives)."""
        with self._call():
            bcm = self._bcm(channel)
            pin = self._pins.get(bcm)
            if pin is None or pin.direction is None:
                raise RuntimeError("You must setup() the GPIO channel first")
            return pin.out_level if pin.direction == G.OUT else pin.level

    def output(self, channel: int, value: int) -> None:
        """Drive an output channel."""
        with self._call():
            bcm = self._bcm(channel)
            pin = self._pins.get(bcm)
            if pin is None or pin.direction != G.OUT:
                raise RuntimeError("The GPIO channel has not been set up as an OUTPUT")
            self._drive(bcm, pin, int(bool(value)))

    def wait_for_edge(
        self,
        channel: int,
        edge: int,
        bouncetime: int | None = None,
        timeout: int | None = None,
    ) -> int | None:
        """Advance virtual time to the next matching edge, or to the timeout (then None)."""
        with self._call():
            bcm = self._bcm(channel)
            pin = self._input_pin(bcm)
            self._check_edge_supported(edge)
            if pin.edge is not None:
                raise RuntimeError(
                    "Conflicting edge detection already enabled for this GPIO channel"
                )
            if timeout is None:
                raise RuntimeError(
                    "wait_for_edge without a timeout would block the simulation forever"
                )
            deadline = self._now + int(timeout) * 1_000_000
            while True:
                before = pin.level
                upcoming = self._next_event()
                if upcoming is None or upcoming > deadline:
                    self._step_to(deadline)
                    return None
                self._step_to(upcoming)
                if pin.level != before and _matches(edge, pin.level):
                    return channel

    def add_event_detect(
        self,
        channel: int,
        edge: int,
        callback: EdgeCallback | None = None,
        bouncetime: int | None = None,
    ) -> None:
        """Watch a channel; callbacks run at the virtual time of each edge."""
        with self._call():
            bcm = self._bcm(channel)
            pin = self._input_pin(bcm)
            self._check_edge_supported(edge)
            if pin.edge is not None:
                raise RuntimeError(
                    "Conflicting edge detection already enabled for this GPIO channel"
                )
            pin.edge = edge
            pin.event = False
            if callback is not None:
                pin.callbacks.append(callback)

    def add_event_callback(self, channel: int, callback: EdgeCallback) -> None:
        """Add another callback to a watched channel."""
        with self._call():
            pin = self._input_pin(self._bcm(channel))
            if pin.edge is None:
                raise RuntimeError(
                    "Add event detection using add_event_detect first before adding a callback"
                )
            pin.callbacks.append(callback)

    def remove_event_detect(self, channel: int) -> None:
        """Stop watching a channel."""
        with self._call():
            pin = self._pin(self._bcm(channel))
            pin.edge = None
            pin.callbacks.clear()
            pin.event = False

    def event_detected(self, channel: int) -> bool:
        """Whether an edge came since the last call."""
        with self._call():
            pin = self._pin(self._bcm(channel))
            seen, pin.event = pin.event, False
            return seen

    def PWM(self, channel: int, frequency: float) -> SimPwm:
        """A software PWM on an output channel."""
        with self._call():
            bcm = self._bcm(channel)
            pin = self._pins.get(bcm)
            if pin is None or pin.direction != G.OUT:
                raise RuntimeError("You must setup() the GPIO channel as an output first")
            if pin.pwm is not None:
                raise RuntimeError("A PWM object already exists for this GPIO channel")
            pin.pwm = SimPwm(self, bcm, frequency)
            return pin.pwm

    def cleanup(self, channel: int | None = None) -> None:
        """Return channels to unconfigured inputs (all of them, and the mode, with None)."""
        with self._lock:
            targets = list(self._pins) if channel is None else [self._bcm(channel)]
            for bcm in targets:
                pin = self._pins.get(bcm)
                if pin is None:
                    continue
                if pin.pwm is not None and pin.pwm.running:
                    pin.pwm.stop()
                if pin.direction == G.OUT and pin.out_level:
                    self._drive(bcm, pin, 0)
                pin.direction = None
                pin.edge = None
                pin.callbacks.clear()
                pin.pwm = None
            if channel is None:
                self._mode = None

    # -- internals ---------------------------------------------------------------------

    @contextmanager
    def _call(self) -> Iterator[None]:
        """One GPIO call: its effect happens now, then the call's cost passes."""
        with self._lock:
            if self._busy:  # a callback calling back in: no time passes inside an edge
                yield
                return
            self._follow_base()
            self._settle()
            yield
            self.calls += 1
            cost = self.call_cost_ns
            if (
                self.faults.gpio_stall_probability
                and self._rng.random() < self.faults.gpio_stall_probability
            ):
                cost += round(self.faults.gpio_stall_us * 1000)
                self.stalls += 1
            self._step_to(self._now + cost)

    def _bcm(self, channel: int) -> int:
        if self._mode is None:
            raise RuntimeError(
                "Please set pin numbering mode using GPIO.setmode(GPIO.BOARD) or "
                "GPIO.setmode(GPIO.BCM)"
            )
        if self._mode == G.BOARD:
            if channel not in BOARD_TO_BCM:
                raise ValueError("The channel sent is invalid on a Raspberry Pi")
            return BOARD_TO_BCM[channel]
        if not 0 <= channel <= 27:
            raise ValueError("The channel sent is invalid on a Raspberry Pi")
        return channel

    def _pin(self, bcm: int) -> _Pin:
        pin = self._pins.get(bcm)
        if pin is None:
            pin = self._pins[bcm] = _Pin()
        return pin

    def _input_pin(self, bcm: int) -> _Pin:
        pin = self._pins.get(bcm)
        if pin is None or pin.direction != G.IN:
            raise RuntimeError("You must setup() the GPIO channel as an input first")
        return pin

    def _check_edge_supported(self, edge: int) -> None:
        if edge not in (G.RISING, G.FALLING, G.BOTH):
            raise ValueError("The edge must be set to RISING, FALLING or BOTH")
        if not self.edge_detection:
            raise RuntimeError("Failed to add edge detection")

    def _drive(self, bcm: int, pin: _Pin, level: int) -> None:
        if pin.out_level == level and pin.history:
            return
        pin.out_level = level
        pin.history.append((self._now, level))
        for model in self._listeners.get(bcm, ()):
            model.on_output(bcm, level, self._now)
        self._settle()

    def _pwm_changed(self, bcm: int, pwm: SimPwm) -> None:
        with self._call():
            pwm.history.append((self._now, pwm.frequency, pwm.duty))
            for model in self._listeners.get(bcm, ()):
                model.on_pwm(bcm, pwm.frequency, pwm.duty, self._now)
            self._settle()

    def _input_level(self, bcm: int, pin: _Pin) -> int:
        model = self._drivers.get(bcm)
        level = model.level(bcm, self._now) if model is not None else None
        if level is None:
            return 1 if pin.pull == G.PUD_UP else 0
        return level

    def _follow_base(self) -> None:
        if self._base is None:
            return
        base_ns = round((self._base.monotonic() - self._base_start) * 1e9)
        if base_ns > self._now:
            self._step_to(base_ns)

    def _next_event(self) -> int | None:
        upcoming = [t for m in self._models if (t := m.next_event_ns(self._now)) is not None]
        later = [t for t in upcoming if t > self._now]
        return min(later) if later else None

    def _step_to(self, target: int) -> None:
        """Advance to ``target``, stopping at every model event on the way."""
        while True:
            upcoming = self._next_event()
            if upcoming is None or upcoming > target:
                break
            self._now = upcoming
            self._settle()
        if target > self._now:
            self._now = target
            self._settle()

    def _settle(self) -> None:
        """Bring the models to the present and deliver input edges."""
        now = self._now
        for model in self._models:
            model.observe(now)
        for model in self._models:
            model.advance(now)
        for bcm, pin in self._pins.items():
            if pin.direction != G.IN:
                continue
            level = self._input_level(bcm, pin)
            if level == pin.level:
                continue
            pin.level = level
            pin.history.append((now, level))
            if pin.edge is not None and _matches(pin.edge, level):
                pin.event = True
                self._busy += 1
                try:
                    for callback in list(pin.callbacks):
                        callback(bcm)
                finally:
                    self._busy -= 1


def _matches(edge: int, level: int) -> bool:
    return edge == G.BOTH or (edge == G.RISING) == (level == 1)
