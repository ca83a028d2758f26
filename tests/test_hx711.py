"""The HX711 driver against the HX711 model, pin by pin."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.hardware.drivers.hx711 import Hx711Scale, decode_24bit, filtered_median
from agent.hardware.hal import gpio as G
from firmware_config.schema import Calibration, LoadCell
from simulator.device.faults import FaultInjector
from simulator.pins.gpio import SimGpio
from simulator.pins.hx711 import Hx711Model
from tests.support.rigs import Rig, make_sim_rig, sim_config

DOUT, SCK = 5, 6


class Bench:
    def __init__(self, gain: int = 128, mass: float = 0.0) -> None:
        self.mass = mass
        self.faults = FaultInjector()
        self.gpio = SimGpio(call_cost_ns=1_000, faults=self.faults)
        self.model = Hx711Model(
            dout=DOUT,
            sck=SCK,
            load_g=lambda: self.mass,
            temp_c=lambda: 20.0,
            faults=self.faults,
            rng=random.Random(3),
            offset=50_000,
            counts_per_g=400.0,
            noise_counts=0.0,
            drift_counts_per_c=0.0,
        )
        self.gpio.attach(self.model)
        self.gpio.setmode(G.BCM)
        self.calibration = Calibration(tare_offset=50_000, scale_counts_per_g=400.0)
        self.scale = Hx711Scale(
            self.gpio,
            self.gpio.clock,
            dout=DOUT,
            sck=SCK,
            settings=LoadCell(gain=gain, samples=3),
            calibration=self.calibration,
        )


@given(st.integers(min_value=-(2**23), max_value=2**23 - 1))
def test_decode_24bit_round_trips_twos_complement(value: int) -> None:
    assert decode_24bit(value & 0xFFFFFF) == value


def test_filtered_median_drops_outliers_and_keeps_zero() -> None:
    assert filtered_median([0, 0, 1, 9_000, -1], 100) == 0
    assert filtered_median([10, 12, 11, 5_000, 9], 100) == 10


def test_reads_the_mass_through_the_pins() -> None:
    bench = Bench(mass=250.0)
    assert bench.scale.read_g() == pytest.approx(250.0, abs=0.01)
    assert bench.scale.read_raw() == 50_000 + 100_000


def test_zero_is_a_legitimate_reading() -> None:
    bench = Bench()
    bench.calibration.tare_offset = 0
    bench.model.offset = 0
    assert bench.scale.read_raw() == 0


def test_25_pulses_per_read_at_gain_128() -> None:
    bench = Bench()
    bench.scale.read_raw(1)
    rising = [t for t, level in bench.gpio.history(SCK) if level == 1]
    assert len(rising) == 25
    assert bench.model.gain == 128


@pytest.mark.parametrize(("gain", "pulses"), [(64, 27), (32, 26)])
def test_pulse_count_selects_gain_and_a_priming_read_follows_power_up(
    gain: int, pulses: int
) -> None:
    bench = Bench(gain=gain, mass=100.0)
    raw = bench.scale.read_raw(1)
    assert bench.model.gain == gain
    assert bench.scale.stats.priming_reads == 1
    rising = [t for t, level in bench.gpio.history(SCK) if level == 1]
    assert len(rising) == 2 * pulses
    if gain == 64:
        assert raw == round((50_000 + 100.0 * 400.0) * 64 / 128)
    else:
        assert abs(raw) < 10  # channel B has nothing connected


def test_every_clock_high_phase_is_short() -> None:
    bench = Bench()
    bench.scale.read_raw(3)
    history = bench.gpio.history(SCK)
    highs = [t1 - t0 for (t0, l0), (t1, _) in itertools.pairwise(history) if l0 == 1]
    assert highs
    assert max(highs) <= 5_000


def test_a_clock_held_high_powers_the_chip_down_and_low_resets_it() -> None:
    bench = Bench(gain=64)
    bench.scale.read_raw(1)
    assert bench.model.gain == 64
    gpio = bench.gpio
    gpio.output(SCK, 1)
    gpio.clock.sleep(70e-6)
    assert gpio.input(DOUT) == 1  # powered down
    gpio.output(SCK, 0)
    assert bench.model.power_downs == 1
    assert bench.model.gain == 128  # reset to A/128
    start = gpio.monotonic_ns()
    while gpio.input(DOUT) == 1:
        gpio.clock.sleep(0.001)
    assert gpio.monotonic_ns() - start == pytest.approx(bench.model.settle_ns, abs=2_000_000)


def test_conversion_rate_paces_reads() -> None:
    bench = Bench()
    bench.scale.read_raw(1)
    start = bench.gpio.monotonic_ns()
    bench.scale.read_raw(5)
    elapsed = bench.gpio.monotonic_ns() - start
    assert 4 * bench.model.period_ns <= elapsed <= 6 * bench.model.period_ns


@pytest.fixture
def rig() -> Iterator[Rig]:
    made = make_sim_rig(sim_config(simulation__pins__hx711_noise_counts=40.0))
    try:
        yield made
    finally:
        made.hardware.close()


def test_offset_drifts_with_temperature_and_tare_takes_it_out(rig: Rig) -> None:
    sim = rig.need_sim()
    scale = rig.hardware.scale
    scale.tare()
    sim.physical.air_temp_c = 38.0
    drifted = scale.read_g()
    expected = rig.config.simulation.pins.hx711_drift_counts_per_c * 20.0 / 428.0
    assert drifted == pytest.approx(expected, abs=0.5)
    scale.tare()
    assert scale.read_g() == pytest.approx(0.0, abs=0.5)


def test_tare_is_kept_in_the_calibration_section(rig: Rig) -> None:
    offset = rig.hardware.scale.tare()
    assert rig.config.calibration.tare_offset == offset
    assert offset == pytest.approx(rig.config.simulation.pins.hx711_offset, abs=50)
