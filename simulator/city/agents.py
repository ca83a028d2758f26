"""The city's bins as the bridge hears them: their agents' messages, encoded as on the wire.

The bins are simulated; what they send is real: protocol models (:mod:`protocol.messages`)
encoded with :func:`protocol.codec.encode` and wrapped as the broker link wraps them
(:class:`cloud_bridge.domain.inbound.Inbound`), so the bridge's processor decodes and
validates every one. Each bin follows its agent's rules:

- a birth (``state``) with its region and location when it comes online;
- a ``deposit`` event for every visitor's drop the bin took, at the visitor's time;
- ``telemetry`` when :class:`~simulator.city.sensors.Reporter` says so, with the door
  ``locked`` while the bin is full;
- an ``overflow`` alarm when a reading reaches ``lock_fill_pct`` (the door locks) and
  its clearing under ``unlock_fill_pct`` (:mod:`agent.runtime.container`);
- an ``emptied`` event when two readings in a row fall well below the peak
  (:func:`protocol.emptying.is_emptying` with the agent's thresholds).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from cloud_bridge.domain.inbound import Inbound
from firmware_config.schema import Thresholds
from protocol import (
    AlarmEvent,
    DepositEvent,
    EmptiedEvent,
    Location,
    State,
    Telemetry,
    TopicKind,
    bin_topic,
    encode,
)
from simulator.city.sensors import Readings
from simulator.city.world import BoolArray, CityWorld, FloatArray, IntArray, at

BOOT_ID = "city-boot-1"
TEMP_C = 15.0


class CityAgents:
    """Every city bin's agent, reduced to the messages it sends."""

    def __init__(self, world: CityWorld, region: str, *, prefix: str = "bins/v1") -> None:
        self.world = world
        self.region = region
        n = world.size
        self._seq = [0] * n
        self._topics = {
            kind: [bin_topic(b, TopicKind.EVENT, kind, prefix=prefix) for b in world.bin_ids]
            for kind in ("deposit", "emptied", "alarm")
        }
        self._telemetry = [bin_topic(b, TopicKind.TELEMETRY, prefix=prefix) for b in world.bin_ids]
        self._state = [bin_topic(b, TopicKind.STATE, prefix=prefix) for b in world.bin_ids]
        thresholds = Thresholds()
        self.lock_pct = thresholds.lock_fill_pct
        self.unlock_pct = thresholds.unlock_fill_pct
        self.empty_drop_pct = thresholds.empty_drop_pct
        self.empty_below_pct = thresholds.empty_below_pct
        self.empty_min_drop_pct = thresholds.empty_min_drop_pct
        self.locked: BoolArray = np.zeros(n, dtype=np.bool_)
        self.peak: FloatArray = np.zeros(n)
        self.previous: FloatArray = np.full(n, np.nan)
        self.candidate: BoolArray = np.zeros(n, dtype=np.bool_)
        self.since_empty = [0] * n
        self.sent = 0

    def _next(self, index: int) -> int:
        self._seq[index] += 1
        return self._seq[index]

    def births(self, when: float) -> list[Inbound]:
        """Every bin comes online (``state``, with its region and location)."""
        ts = at(when)
        world = self.world
        return [
            self._wrap(
                self._state[i],
                State(
                    bin_id=world.bin_ids[i],
                    seq=self._next(i),
                    boot_id=BOOT_ID,
                    ts=ts,
                    clock_synced=True,
                    online=True,
                    bd_seq=1,
                    agent_version="city-sim",
                    config_version=1,
                    reason="connect",
                    region=self.region,
                    location=Location(lat=float(world.lat[i]), lon=float(world.lon[i])),
                ),
            )
            for i in range(world.size)
        ]

    def round(self, readings: Readings, deposits: IntArray, took: BoolArray) -> list[Inbound]:
        """What the bins send for the visitors since the last round and this round's
        readings, in time order."""
        world = self.world
        timed: list[tuple[float, int, Inbound]] = []
        kg_per_l = world.options.kg_per_l
        for j, taken in zip(deposits.tolist(), took.tolist(), strict=True):
            if not taken:
                continue
            index = int(world.dep_bin[j])
            when = float(world.dep_t[j])
            self.since_empty[index] += 1
            seq = self._next(index)
            message = DepositEvent(
                bin_id=world.bin_ids[index], seq=seq, boot_id=BOOT_ID, ts=at(when),
                clock_synced=True, deposit_id=f"{world.bin_ids[index]}-{seq}",
                category="trash", confidence=1.0, accepted=True, reason=None,
                weight_g=round(float(world.dep_l[j]) * kg_per_l * 1000.0, 1), model="city-sim",
            )  # fmt: skip
            timed.append((when, len(timed), self._wrap(self._topics["deposit"][index], message)))
        ts = at(readings.at)
        for index in np.flatnonzero(~np.isnan(readings.fill_pct)).tolist():
            for inbound in self._rules(index, float(readings.fill_pct[index]), ts):
                timed.append((readings.at, len(timed), inbound))
        for index in np.flatnonzero(readings.reports).tolist():
            fill = float(readings.fill_pct[index])
            reading = Telemetry(
                bin_id=world.bin_ids[index], seq=self._next(index), boot_id=BOOT_ID, ts=ts,
                clock_synced=True, fill_pct=None if np.isnan(fill) else fill, fill_mm=None,
                weight_kg=None, temp_c=TEMP_C,
                door="locked" if self.locked[index] else "closed",
                deposits_since_empty=self.since_empty[index],
            )  # fmt: skip
            timed.append((readings.at, len(timed), self._wrap(self._telemetry[index], reading)))
        timed.sort(key=lambda item: (item[0], item[1]))
        return [inbound for _, _, inbound in timed]

    def _rules(self, index: int, fill: float, ts: datetime) -> list[Inbound]:
        """The agent's emptied and overflow rules on one reading."""
        out: list[Inbound] = []
        bin_id = self.world.bin_ids[index]
        peak = float(self.peak[index])
        drop = peak - fill
        emptying = fill <= self.empty_below_pct and (
            drop >= self.empty_drop_pct or (drop >= self.empty_min_drop_pct and fill <= peak / 2)
        )
        if not emptying:
            self.candidate[index] = False
        elif not self.candidate[index]:
            self.candidate[index] = True
        else:
            message = EmptiedEvent(
                bin_id=bin_id, seq=self._next(index), boot_id=BOOT_ID, ts=ts, clock_synced=True,
                fill_before_pct=round(min(peak, 100.0), 1), fill_after_pct=fill,
                weight_before_kg=None, pickup_id=None,
            )  # fmt: skip
            out.append(self._wrap(self._topics["emptied"][index], message))
            self.candidate[index] = False
            self.peak[index] = fill
            self.since_empty[index] = 0
        previous = float(self.previous[index])
        if not np.isnan(previous):
            self.peak[index] = max(float(self.peak[index]), min(previous, fill))
        self.previous[index] = fill
        if fill >= self.lock_pct and not self.locked[index]:
            out.append(self._alarm(index, True, f"fill {fill:.0f}% >= {self.lock_pct:.0f}%", ts))
        elif fill < self.unlock_pct and self.locked[index]:
            out.append(self._alarm(index, False, f"fill {fill:.0f}%: door unlocked", ts))
        return out

    def _alarm(self, index: int, active: bool, detail: str, ts: datetime) -> Inbound:
        self.locked[index] = active
        message = AlarmEvent(
            bin_id=self.world.bin_ids[index], seq=self._next(index), boot_id=BOOT_ID, ts=ts,
            clock_synced=True, kind="overflow", active=active, detail=detail,
        )  # fmt: skip
        return self._wrap(self._topics["alarm"][index], message)

    def _wrap(
        self, topic: str, message: State | Telemetry | DepositEvent | EmptiedEvent | AlarmEvent
    ) -> Inbound:
        self.sent += 1
        return Inbound(topic, encode(message), qos=1)
