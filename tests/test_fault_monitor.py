"""The fault monitor: transitions become events once, components map to the contract."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.hardware.devices import DeviceStatus
from agent.runtime.fault_monitor import FaultMonitor, contract_component


@dataclass
class FakeDevice:
    component: str
    current: DeviceStatus = field(default_factory=DeviceStatus.ok)

    def status(self) -> DeviceStatus:
        return self.current


def test_components_map_to_the_contract() -> None:
    assert contract_component("beam") == "door"
    assert contract_component("lock") == "door"
    assert contract_component("temperature") == "ultrasonic"
    assert contract_component("loadcell") == "loadcell"
    assert contract_component("toaster") is None


def test_raise_once_clear_once_and_code_changes() -> None:
    events: list[tuple[str, str, bool, str | None]] = []
    scale = FakeDevice("loadcell")
    monitor = FaultMonitor([scale], lambda *e: events.append(e))
    assert monitor.poll() == []
    scale.current = DeviceStatus("failed", "not_ready", "timeout")
    monitor.poll()
    monitor.poll()
    assert events == [("loadcell", "not_ready", True, "timeout")]
    scale.current = DeviceStatus("failed", "saturated", "0x7FFFFF")
    monitor.poll()
    assert events[1:] == [
        ("loadcell", "not_ready", False, "recovered"),
        ("loadcell", "saturated", True, "0x7FFFFF"),
    ]
    scale.current = DeviceStatus.ok()
    monitor.poll()
    assert events[-1] == ("loadcell", "saturated", False, "recovered")


def test_sensors_map_takes_the_worst_per_component() -> None:
    beam = FakeDevice("beam")
    door = FakeDevice("door", DeviceStatus("degraded", "left_open", "open for 2 min"))
    lock = FakeDevice("lock")
    camera = FakeDevice("camera", DeviceStatus("failed", "absent", None))
    monitor = FaultMonitor([beam, door, lock, camera], lambda *e: None)
    monitor.poll()
    assert monitor.sensors() == {"door": "degraded", "camera": "failed"}
    assert set(monitor.active()) == {("door", "left_open"), ("camera", "absent")}


def test_same_fault_from_two_devices_is_one_event() -> None:
    events: list[tuple[str, str, bool, str | None]] = []
    a = FakeDevice("door", DeviceStatus("failed", "gpio", "x"))
    b = FakeDevice("beam", DeviceStatus("failed", "gpio", "y"))
    monitor = FaultMonitor([a, b], lambda *e: events.append(e))
    monitor.poll()
    a.current = DeviceStatus.ok()
    monitor.poll()
    assert events == [("door", "gpio", True, "x")]  # still active through the beam
