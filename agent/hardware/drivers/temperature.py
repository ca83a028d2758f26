"""The container temperature: a DS18B20 on the 1-wire bus, read through sysfs.

A read goes through the kernel's w1 driver, which blocks for the ~750 ms conversion and
can hang on a bad bus, so it runs in a worker thread and is given up after
``read_timeout_ms``. A read the kernel never returns from cannot be cancelled: while
its thread is still stuck, later reads do not start another one (which would stick too
and pile up threads) but report the timeout at once. A failed CRC is re-read; 85.000 degC,
the power-on value the probe returns when it lost power before converting, is re-read
once and then reported.
The temperature is a helper of the fill sensor (speed of sound): its faults are the
``ultrasonic`` component's.
"""

from __future__ import annotations

import logging
import re
import threading

from agent.hardware.devices import DeviceStatus
from agent.hardware.drivers.health import Health
from agent.hardware.hal.onewire import W1Bus

logger = logging.getLogger(__name__)

POWER_ON_RESET_MILLI_C = 85_000
DISCONNECTED_MILLI_C = (-127_000, -62)
READ_ATTEMPTS = 3
_T_EQUALS = re.compile(r"t=(-?\d+)")


class ProbeError(Exception):
    """One read of the probe could not be used."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def parse_w1_slave(text: str) -> float:
    """Degrees Celsius from ``w1_slave`` text; raises ProbeError on a bad CRC or value."""
    lines = text.strip().splitlines()
    if len(lines) < 2:
        raise ProbeError("bad_read", f"unexpected w1_slave text: {text!r}")
    if not lines[0].rstrip().endswith("YES"):
        raise ProbeError("crc_error", "CRC check failed")
    match = _T_EQUALS.search(lines[1])
    if match is None:
        raise ProbeError("bad_read", f"no t= in {lines[1]!r}")
    milli = int(match.group(1))
    if milli == POWER_ON_RESET_MILLI_C:
        raise ProbeError("power_on_reset", "85.000 degC power-on value: the probe lost power")
    if milli in DISCONNECTED_MILLI_C:
        raise ProbeError("disconnected", f"read {milli / 1000:g} degC: probe disconnected")
    return milli / 1000.0


class Ds18b20:
    """:class:`agent.hardware.devices.TemperatureSensor` on the first DS18B20 of a 1-wire bus."""

    component = "ultrasonic"

    def __init__(self, bus: W1Bus, *, read_timeout_ms: int) -> None:
        self._bus = bus
        self._timeout_s = read_timeout_ms / 1000
        self._health = Health(self.component)
        self._lock = threading.Lock()
        self._stuck: threading.Thread | None = None

    def status(self) -> DeviceStatus:
        """Health after the last read."""
        return self._health.status()

    def read_c(self) -> float | None:
        """Degrees Celsius, or None (and a ``degraded`` status) when the probe failed.

        The fill sensor still works without it (at the default temperature), so a
        failed probe degrades the ``ultrasonic`` component rather than failing it.
        """
        with self._lock:
            probes = self._bus.probes()
            if not probes:
                self._health.set("degraded", "temp_absent", "no DS18B20 on the 1-wire bus")
                return None
            last = ProbeError("bad_read", "no read")
            for _ in range(READ_ATTEMPTS):
                try:
                    value = parse_w1_slave(self._read_with_timeout(probes[0]))
                except ProbeError as err:
                    last = err
                    if err.code == "timeout":
                        break  # a hung bus will not answer a second time either
                    continue
                self._health.ok()
                return value
            self._health.set("degraded", f"temp_{last.code}", last.detail)
            return None

    def _read_with_timeout(self, probe: str) -> str:
        if self._stuck is not None:
            if self._stuck.is_alive():
                raise ProbeError("timeout", "an earlier read is still stuck on the 1-wire bus")
            self._stuck = None
        result: list[str] = []
        failure: list[BaseException] = []

        def work() -> None:
            try:
                result.append(self._bus.read(probe))
            except OSError as err:
                failure.append(err)

        worker = threading.Thread(target=work, name="ds18b20-read", daemon=True)
        worker.start()
        worker.join(self._timeout_s)
        if worker.is_alive():
            self._stuck = worker
            raise ProbeError("timeout", f"no answer within {self._timeout_s:g} s")
        if failure:
            raise ProbeError("bad_read", str(failure[0]))
        return result[0]


class NoTemperatureSensor:
    """:class:`agent.hardware.devices.TemperatureSensor` for a bin without a probe."""

    component = "ultrasonic"

    def read_c(self) -> float | None:
        """Always None: the fill sensor assumes ``ultrasonic.default_temp_c``."""
        return None

    def status(self) -> DeviceStatus:
        """Always ok: there is nothing to fail."""
        return DeviceStatus.ok()
