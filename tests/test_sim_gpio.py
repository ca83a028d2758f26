"""The simulated RPi.GPIO: its API and errors, edges on a virtual clock, history."""

from __future__ import annotations

import pytest

from agent.clock import ManualClock
from agent.hardware.hal import gpio as G
from simulator.pins.gpio import SimGpio
from simulator.pins.model import PinModel


class PulseSource(PinModel):
    """Drives one pin high during scheduled windows."""

    def __init__(self, pin: int, windows: list[tuple[int, int]]) -> None:
        self.driven = (pin,)
        self.windows = windows

    def level(self, pin: int, now_ns: int) -> int | None:
        return int(any(start <= now_ns < end for start, end in self.windows))

    def next_event_ns(self, now_ns: int) -> int | None:
        edges = [t for window in self.windows for t in window if t > now_ns]
        return min(edges) if edges else None


class Recorder(PinModel):
    def __init__(self, pin: int) -> None:
        self.listens = (pin,)
        self.seen: list[tuple[int, int]] = []
        self.pwm: list[tuple[float, float]] = []

    def on_output(self, pin: int, level: int, now_ns: int) -> None:
        self.seen.append((now_ns, level))

    def on_pwm(self, pin: int, frequency: float, duty: float, now_ns: int) -> None:
        self.pwm.append((frequency, duty))


def test_errors_mimic_rpi_gpio() -> None:
    gpio = SimGpio()
    with pytest.raises(RuntimeError, match="setmode"):
        gpio.setup(5, G.IN)
    gpio.setmode(G.BCM)
    with pytest.raises(ValueError, match="A different mode"):
        gpio.setmode(G.BOARD)
    with pytest.raises(ValueError, match="invalid"):
        gpio.setup(40, G.IN)
    with pytest.raises(RuntimeError, match="setup"):
        gpio.input(5)
    gpio.setup(5, G.IN, pull_up_down=G.PUD_UP)
    with pytest.raises(RuntimeError, match="OUTPUT"):
        gpio.output(5, 1)
    with pytest.raises(RuntimeError, match="output first"):
        gpio.PWM(5, 50)
    with pytest.raises(RuntimeError, match="forever"):
        gpio.wait_for_edge(5, G.RISING)
    gpio.add_event_detect(5, G.BOTH)
    with pytest.raises(RuntimeError, match="Conflicting"):
        gpio.wait_for_edge(5, G.RISING, timeout=10)


def test_pulls_decide_undriven_inputs_and_board_numbers_map_to_bcm() -> None:
    gpio = SimGpio()
    gpio.setmode(G.BOARD)
    gpio.setup(29, G.IN, pull_up_down=G.PUD_UP)  # BOARD 29 is BCM 5
    gpio.setup(31, G.IN, pull_up_down=G.PUD_DOWN)  # BOARD 31 is BCM 6
    assert gpio.input(29) == 1
    assert gpio.input(31) == 0
    assert gpio.history(5)[-1][1] == 1


def test_every_call_costs_virtual_time_and_sleep_advances_it() -> None:
    gpio = SimGpio(call_cost_ns=2_000)
    gpio.setmode(G.BCM)
    gpio.setup(4, G.OUT)
    start = gpio.monotonic_ns()
    gpio.output(4, 1)
    gpio.output(4, 0)
    assert gpio.monotonic_ns() - start == 4_000
    gpio.clock.sleep(0.5)
    assert gpio.monotonic_ns() - start == 500_004_000


def test_output_history_and_listeners_carry_timestamps() -> None:
    gpio = SimGpio(call_cost_ns=1_000)
    recorder = Recorder(18)
    gpio.attach(recorder)
    gpio.setmode(G.BCM)
    gpio.setup(18, G.OUT, initial=G.LOW)
    gpio.output(18, 1)
    gpio.clock.sleep(0.001)
    gpio.output(18, 0)
    levels = [level for _, level in gpio.history(18)]
    assert levels == [0, 1, 0]
    (_t0, _), (t1, _), (t2, _) = gpio.history(18)
    assert t2 - t1 == 1_001_000
    assert recorder.seen[-2:] == [(t1, 1), (t2, 0)]


def test_pwm_reports_duty_and_frequency() -> None:
    gpio = SimGpio()
    recorder = Recorder(18)
    gpio.attach(recorder)
    gpio.setmode(G.BCM)
    gpio.setup(18, G.OUT)
    pwm = gpio.PWM(18, 50)
    with pytest.raises(RuntimeError, match="already exists"):
        gpio.PWM(18, 50)
    pwm.start(5.0)
    pwm.ChangeDutyCycle(10.0)
    with pytest.raises(ValueError, match="dutycycle"):
        pwm.ChangeDutyCycle(120.0)
    pwm.stop()
    assert recorder.pwm == [(50.0, 5.0), (50.0, 10.0), (50.0, 0.0)]


def test_wait_for_edge_jumps_to_the_edge_or_times_out() -> None:
    gpio = SimGpio(call_cost_ns=1_000)
    gpio.attach(PulseSource(24, [(3_000_000, 5_000_000)]))
    gpio.setmode(G.BCM)
    gpio.setup(24, G.IN)
    assert gpio.wait_for_edge(24, G.RISING, timeout=10) == 24
    assert gpio.monotonic_ns() == 3_000_000 + 1_000
    assert gpio.wait_for_edge(24, G.FALLING, timeout=10) == 24
    assert gpio.monotonic_ns() == 5_000_000 + 1_000
    before = gpio.monotonic_ns()
    assert gpio.wait_for_edge(24, G.RISING, timeout=7) is None
    assert gpio.monotonic_ns() - before == 7_000_000 + 1_000


def test_callbacks_run_at_the_time_of_each_edge() -> None:
    gpio = SimGpio(call_cost_ns=1_000)
    gpio.attach(PulseSource(17, [(1_000_000, 2_000_000), (4_000_000, 4_500_000)]))
    gpio.setmode(G.BCM)
    gpio.setup(17, G.IN)
    seen: list[tuple[int, int]] = []
    gpio.add_event_detect(17, G.BOTH, callback=lambda ch: seen.append((ch, gpio.monotonic_ns())))
    gpio.clock.sleep(0.01)
    assert seen == [(17, 1_000_000), (17, 2_000_000), (17, 4_000_000), (17, 4_500_000)]
    assert gpio.event_detected(17)
    assert not gpio.event_detected(17)


def test_edge_detection_failure_can_be_emulated() -> None:
    gpio = SimGpio(edge_detection=False)
    gpio.setmode(G.BCM)
    gpio.setup(17, G.IN)
    with pytest.raises(RuntimeError, match="Failed to add edge detection"):
        gpio.add_event_detect(17, G.BOTH)


def test_virtual_time_never_falls_behind_the_base_clock() -> None:
    base = ManualClock()
    gpio = SimGpio(base_clock=base)
    gpio.setmode(G.BCM)
    base.advance(2.0)
    assert gpio.monotonic_ns() == 2_000_000_000
    gpio.clock.sleep(1.0)  # drivers may run ahead of the base clock...
    base.advance(0.5)
    assert gpio.monotonic_ns() == 3_000_000_000  # ...which then catches up, never back


def test_cleanup_releases_channels_and_mode() -> None:
    gpio = SimGpio()
    gpio.setmode(G.BCM)
    gpio.setup(22, G.OUT, initial=G.HIGH)
    gpio.cleanup()
    assert gpio.getmode() is None
    assert gpio.history(22)[-1][1] == 0
    gpio.setmode(G.BCM)
    with pytest.raises(RuntimeError, match="setup"):
        gpio.input(22)
