"""Debounced switches (edge-driven and polled) and the outputs' recorded waveforms."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from agent.hardware.devices import DeviceError
from agent.hardware.drivers.outputs import LockSolenoid
from agent.hardware.hal.gpio import BCM, HIGH
from agent.storage.localdb import LocalDb
from agent.storage.lock_state import persisted_lock_state
from agent.storage.state import BinState
from simulator.device.physical import Item
from simulator.pins.gpio import SimGpio
from tests.support.rigs import make_sim_rig, sim_config


@pytest.mark.parametrize("edges", [True, False], ids=["edge-driven", "polled"])
def test_a_bouncing_door_reads_one_clean_change(edges: bool) -> None:
    config = sim_config(simulation__pins__switch_bounce_ms=4.0)
    rig = make_sim_rig(config, edge_detection=edges)
    sim = rig.need_sim()
    door = rig.hardware.door
    assert door.edge_driven is edges  # type: ignore[attr-defined]
    readings = []
    for step in range(40):
        if step == 5:
            sim.physical.door_open = True
        readings.append(door.is_open())
        rig.clock.sleep(0.001)
    changes = sum(1 for a, b in itertools.pairwise(readings) if a != b)
    assert changes == 1
    assert readings[-1] is True
    pin_levels = [level for _, level in sim.gpio.history(config.pins.door_switch)]
    assert len(pin_levels) >= 2  # the contact itself bounced (or at least changed)


def test_bounces_are_visible_on_the_pin_but_not_through_the_driver() -> None:
    config = sim_config(simulation__pins__switch_bounce_ms=5.0, simulation__seed=7)
    rig = make_sim_rig(config)
    sim = rig.need_sim()
    sim.physical.door_open = True
    assert rig.hardware.door.is_open()
    transitions = len(sim.gpio.history(config.pins.door_switch)) - 1
    assert transitions >= 3  # the contact bounced; the driver saw one opening
    assert sim.door.changes == 1


def test_beam_sees_an_item_on_the_tray() -> None:
    rig = make_sim_rig()
    sim = rig.need_sim()
    assert not rig.hardware.beam.is_broken()
    sim.physical.door_open = True
    sim.physical.place_on_tray(Item("paper", 20.0, 0.2))
    assert rig.hardware.beam.is_broken()


def test_indicators_leave_a_timestamped_trace() -> None:
    rig = make_sim_rig()
    sim = rig.need_sim()
    pins = rig.config.pins
    rig.hardware.indicators.show("green")
    rig.hardware.indicators.beep(0.2)
    rig.hardware.indicators.show("red")
    assert [level for _, level in sim.gpio.history(pins.led_green)] == [0, 1, 0]
    assert [level for _, level in sim.gpio.history(pins.led_red)] == [0, 1]
    (_, _), (on, _), (off, _) = sim.gpio.history(pins.buzzer)
    assert off - on == pytest.approx(200_000_000, abs=10_000)


def test_servo_flap_pulses_match_the_configured_widths() -> None:
    rig = make_sim_rig()
    sim = rig.need_sim()
    rig.hardware.flap.drop()
    pwm = sim.gpio.pwm_of(rig.config.pins.flap)
    assert pwm is not None
    pulses_us = [duty / 100 / hz * 1e6 for _, hz, duty in pwm.history if duty > 0]
    assert pulses_us == pytest.approx([2000.0, 1000.0])
    assert pwm.history[-1][2] == 0.0  # servo left unpowered, no jitter


def test_solenoid_flap_drops_and_jams() -> None:
    rig = make_sim_rig(sim_config(hardware__flap="solenoid"))
    sim = rig.need_sim()
    sim.physical.door_open = True
    sim.physical.place_on_tray(Item("cardboard", 120.0, 2.0))
    sim.physical.door_open = False
    rig.hardware.flap.drop()
    assert sim.physical.tray is None
    levels = sim.gpio.history(rig.config.pins.flap)
    assert levels[-1][0] - levels[-2][0] >= rig.config.flap.solenoid_pulse_ms * 1_000_000
    sim.physical.door_open = True
    sim.physical.place_on_tray(Item("cardboard", 120.0, 2.0))
    sim.physical.door_open = False
    sim.faults.inject(flap="jammed")
    with pytest.raises(DeviceError, match="jammed"):
        rig.hardware.flap.drop()


def test_lock_follows_the_solenoid() -> None:
    rig = make_sim_rig()
    sim = rig.need_sim()
    rig.hardware.lock.set_locked(True)
    assert sim.physical.door_locked
    assert rig.hardware.lock.locked
    rig.hardware.lock.set_locked(False)
    assert not sim.physical.door_locked


def test_stopping_the_agent_leaves_a_locked_bin_locked() -> None:
    rig = make_sim_rig()
    sim = rig.need_sim()
    lock_pin = rig.config.pins.lock
    rig.hardware.lock.set_locked(True)
    rig.hardware.indicators.show("amber")
    rig.hardware.close()  # the agent stops: drivers close, then the GPIO cleanup
    assert sim.physical.door_locked
    assert sim.gpio.input(lock_pin) == HIGH  # still an output, still driven
    with pytest.raises(RuntimeError):
        sim.gpio.input(rig.config.pins.led_amber)  # every other pin was released


def test_stopping_an_unlocked_bin_releases_every_pin() -> None:
    rig = make_sim_rig()
    sim = rig.need_sim()
    rig.hardware.lock.set_locked(False)
    rig.hardware.close()
    assert not sim.physical.door_locked
    with pytest.raises(RuntimeError):
        sim.gpio.input(rig.config.pins.lock)


def test_a_restart_starts_the_lock_in_its_persisted_state(tmp_path: Path) -> None:
    db_path = tmp_path / "agent.db"
    assert persisted_lock_state(db_path) is False  # a new bin: no database yet
    db = LocalDb(db_path)
    BinState().save(db)
    assert persisted_lock_state(db_path) is False
    BinState(lock_reasons=["overflow"]).save(db)
    db.close()
    assert persisted_lock_state(db_path) is True
    # The new process drives the solenoid high from its very first level.
    gpio = SimGpio()
    gpio.setmode(BCM)
    lock = LockSolenoid(gpio, 22, locked=persisted_lock_state(db_path))
    assert lock.locked
    assert [level for _, level in gpio.history(22)] == [HIGH]


def test_an_unreadable_database_starts_the_lock_locked(tmp_path: Path) -> None:
    db_path = tmp_path / "agent.db"
    db_path.write_bytes(b"this is not a database")
    assert persisted_lock_state(db_path) is True
