"""The DS18B20 driver: parsing the sysfs text, retries and a bounded read."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from agent.hardware.drivers.temperature import Ds18b20, ProbeError, parse_w1_slave
from agent.hardware.hal.onewire import SysfsW1Bus
from tests.support.waiting import eventually

GOOD = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"


def test_parses_the_kernel_text() -> None:
    assert parse_w1_slave(GOOD) == pytest.approx(23.125)
    assert parse_w1_slave(GOOD.replace("t=23125", "t=-1250")) == pytest.approx(-1.25)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (GOOD.replace("YES", "NO"), "crc_error"),
        (GOOD.replace("t=23125", "t=85000"), "power_on_reset"),
        (GOOD.replace("t=23125", "t=-127000"), "disconnected"),
        ("", "bad_read"),
    ],
)
def test_bad_reads_are_named(text: str, code: str) -> None:
    with pytest.raises(ProbeError) as caught:
        parse_w1_slave(text)
    assert caught.value.code == code


def test_reads_a_probe_from_a_sysfs_tree(tmp_path: Path) -> None:
    probe = tmp_path / "28-00000abcdef0"
    probe.mkdir()
    (probe / "w1_slave").write_text(GOOD)
    (tmp_path / "00-800000000000").mkdir()  # another family: ignored
    sensor = Ds18b20(SysfsW1Bus(tmp_path), read_timeout_ms=1000)
    assert sensor.read_c() == pytest.approx(23.125)
    assert sensor.status().health == "ok"


def test_no_probe_degrades_the_fill_component(tmp_path: Path) -> None:
    sensor = Ds18b20(SysfsW1Bus(tmp_path / "missing"), read_timeout_ms=1000)
    assert sensor.read_c() is None
    status = sensor.status()
    assert (sensor.component, status.health, status.code) == (
        "ultrasonic",
        "degraded",
        "temp_absent",
    )


class HangingBus:
    """A 1-wire bus whose read blocks until released (a wedged w1 master)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.reads = 0

    def probes(self) -> list[str]:
        return ["28-1"]

    def read(self, probe: str) -> str:
        self.reads += 1
        self.release.wait(10)
        return GOOD


def test_a_hanging_read_is_given_up_after_the_timeout() -> None:
    bus = HangingBus()
    sensor = Ds18b20(bus, read_timeout_ms=100)
    try:
        assert sensor.read_c() is None
        assert sensor.status().code == "temp_timeout"
        assert bus.reads == 1  # a hung bus is not asked again within the same read
    finally:
        bus.release.set()


def test_a_wedged_bus_is_not_asked_again_until_it_answers() -> None:
    bus = HangingBus()
    sensor = Ds18b20(bus, read_timeout_ms=50)
    try:
        for _ in range(5):  # telemetry keeps asking; the fill sensor uses its default
            assert sensor.read_c() is None
        assert bus.reads == 1  # one stuck thread, not one per telemetry cycle
        assert sensor.status().health == "degraded"
        assert sensor.status().code == "temp_timeout"
        assert "still stuck" in (sensor.status().detail or "")
    finally:
        bus.release.set()
    eventually(lambda: sensor.read_c() is not None)  # the bus answers again
    assert sensor.status().health == "ok"
