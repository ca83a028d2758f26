"""A simulated 1-wire bus with one DS18B20, answering as the kernel's sysfs does."""

from __future__ import annotations

import random
from collections.abc import Callable

from simulator.device.faults import FaultInjector

PROBE_ID = "28-0000075a1b2c"
CONVERSION_S = 0.75


class SimW1Bus:
    """:class:`agent.hardware.hal.onewire.W1Bus` reading the container's air temperature."""

    def __init__(
        self,
        *,
        temp_c: Callable[[], float],
        faults: FaultInjector,
        rng: random.Random,
        sleep: Callable[[float], None],
    ) -> None:
        self._temp_c = temp_c
        self._faults = faults
        self._rng = rng
        self._sleep = sleep
        self.reads = 0

    def probes(self) -> list[str]:
        """One probe, unless the ``absent`` fault removed it."""
        return [] if self._faults.temperature == "absent" else [PROBE_ID]

    def read(self, probe: str) -> str:
        """``w1_slave`` text after the 750 ms conversion (in virtual time)."""
        if probe != PROBE_ID or self._faults.temperature == "absent":
            raise FileNotFoundError(f"no such 1-wire device: {probe}")
        self._sleep(CONVERSION_S)
        self.reads += 1
        fault = self._faults.temperature
        milli = 85_000 if fault == "power_on_reset" else round(self._temp_c() * 16) * 1000 // 16
        raw = (milli * 16 // 1000) & 0xFFFF
        data = f"{raw & 0xFF:02x} {raw >> 8:02x} 4b 46 7f ff 0c 10"
        crc = f"{self._rng.randrange(256):02x}"
        verdict = "NO" if fault == "crc_error" else "YES"
        return f"{data} {crc} : crc={crc} {verdict}\n{data} {crc} t={milli}\n"
