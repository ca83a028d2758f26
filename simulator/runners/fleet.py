"""A fleet of simulated bins on one virtual clock, with visitors and a collection crew.

Every bin runs the real agent (runtime, intake, outbox, MQTT link) on device-level
simulated hardware. One thread drives them all as a discrete-event simulation: a heap
of timed actions (visitors opening doors, crews emptying containers, agents asking to
be stepped) is worked through in virtual-time order, paced to ``speed`` times real
time. MQTT traffic flows for real, through a real broker, to a real bridge; the crew
learns of pickups the way a scheduler would, by subscribing to ``fleet/v1/pickups/#``.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from agent.app import Agent
from agent.clock import ManualClock
from agent.hardware.devices import DeviceStatus, Image
from firmware_config import DeviceConfig, validate_config
from protocol.codec import decode
from protocol.messages import Pickup
from protocol.transport import BrokerUrl
from simulator.device.hardware import build_device_hardware
from simulator.device.oracle import OracleClassifier
from simulator.device.physical import PhysicalBin
from simulator.runners.event_loop import AgentStepper, EventLoop
from simulator.world.arrivals import ArrivalProcess, ItemCatalog
from simulator.world.visitors import VisitCounters, Visitors

log = logging.getLogger(__name__)

HOUR = 3600.0
CITY_CENTRE = (52.5200, 13.4050)


@dataclass
class FleetOptions:
    """What to simulate and how fast."""

    bins: int = 12
    days: float = 2.0
    speed: float = 3600.0
    """Virtual seconds per real second; 0 runs as fast as the machine allows."""
    seed: int = 7
    peak_per_hour: float = 8.0
    regions: tuple[str, ...] = ("north", "south")
    crew_delay_h: tuple[float, float] = (4.0, 20.0)
    """A crew empties a bin this many hours after its pickup is requested."""
    classifier_accuracy: float = 0.95
    telemetry_s: float = 300.0
    fill_sample_s: float = 120.0


@dataclass
class BinCounters:
    """What the crew did at one bin and how long it stood full."""

    emptied: int = 0
    full_s: float = 0.0


class BlankCamera:
    """Fleet runs classify with the oracle, so the photo itself does not matter."""

    component = "camera"

    def status(self) -> DeviceStatus:
        """Always healthy."""
        return DeviceStatus.ok()

    def capture(self, timeout_s: float = 2.0) -> Image:
        """A tiny grey frame."""
        return np.full((8, 8, 3), 128, dtype=np.uint8)


@dataclass
class SimBin:
    """One bin of the fleet: its world, its hardware and its agent."""

    index: int
    config: DeviceConfig
    physical: PhysicalBin
    agent: Agent
    visitors: Visitors
    stepper: AgentStepper
    counters: BinCounters = field(default_factory=BinCounters)
    crew_due: float = math.inf
    """When (virtual monotonic time) the crew plans to empty this bin; inf: not planned."""

    @property
    def bin_id(self) -> str:
        """The bin's id."""
        return self.config.identity.bin_id


@dataclass
class LoopScheduler:
    """An event loop as one bin's visitors see it: actions later, pokes to its agent."""

    loop: EventLoop
    stepper: AgentStepper

    def after(self, delay: float, action: Callable[[], None]) -> None:
        """Run ``action`` later on the loop."""
        self.loop.after(delay, action)

    def poke(self) -> None:
        """Step the bin's agent now."""
        self.stepper.poke()


@dataclass(frozen=True)
class PickupNotice:
    """A pickup message the crew received."""

    pickup: Pickup
    virtual_time: float


class FleetSim:
    """Runs a fleet of bins against a broker (and whatever bridge listens there)."""

    def __init__(
        self,
        options: FleetOptions,
        endpoint: BrokerUrl,
        workdir: Path,
        *,
        clock: ManualClock | None = None,
        on_pickup: Callable[[PickupNotice], None] | None = None,
    ) -> None:
        self.options = options
        self.endpoint = endpoint
        self.workdir = workdir
        self.clock = clock or ManualClock()
        self.rng = random.Random(options.seed)
        self.on_pickup = on_pickup
        self.loop = EventLoop(self.clock)
        self._inbox: queue.SimpleQueue[Pickup] = queue.SimpleQueue()
        self.bins = [self._make_bin(i) for i in range(options.bins)]
        self._by_id = {b.bin_id: b for b in self.bins}
        self.pickups_seen: list[PickupNotice] = []
        self._crew: mqtt.Client | None = None

    # -- building ------------------------------------------------------------------------

    def _bin_config(self, index: int) -> DeviceConfig:
        lat = CITY_CENTRE[0] + self.rng.uniform(-0.08, 0.08)
        lon = CITY_CENTRE[1] + self.rng.uniform(-0.12, 0.12)
        options = self.options
        return validate_config(
            {
                "identity": {
                    "bin_id": f"sim-{index + 1:04d}",
                    "region": options.regions[index % len(options.regions)],
                    "location": {"lat": round(lat, 5), "lon": round(lon, 5)},
                },
                "hardware": {"backend": "sim-device", "temperature_sensor": "sim"},
                "intervals": {
                    "telemetry_s": options.telemetry_s,
                    "health_s": 3600,
                    "fill_sample_s": options.fill_sample_s,
                },
                "broker": {
                    "host": self.endpoint.host,
                    "port": self.endpoint.port,
                    "backoff_min_s": 0.2,
                    "backoff_max_s": 5,
                    "inflight": 100,
                },
                "storage": {"path": str(self.workdir / f"sim-{index + 1:04d}.db")},
                "simulation": {"seed": options.seed * 1000 + index},
            },
            source=f"fleet bin {index}",
        )

    def _make_bin(self, index: int) -> SimBin:
        config = self._bin_config(index)
        rng = random.Random(config.simulation.seed)
        physical = PhysicalBin(
            container_depth_mm=config.calibration.empty_distance_mm,
            container_volume_l=config.simulation.container_volume_l,
        )
        hardware = build_device_hardware(config, self.clock, physical, BlankCamera(), rng=rng)
        classifier = OracleClassifier(physical, rng, self.options.classifier_accuracy)
        agent = Agent.build(
            config,
            hardware,
            self.clock,
            endpoint=self.endpoint,
            rng=rng,
            classifier=classifier,
        )
        popularity = math.exp(rng.gauss(0, 0.35))
        stepper = self.loop.stepper(agent.runtime)
        visitors = Visitors(
            physical,
            ArrivalProcess(rng, self.options.peak_per_hour, popularity),
            ItemCatalog(rng),
            LoopScheduler(self.loop, stepper),
            self.clock,
        )
        return SimBin(
            index=index,
            config=config,
            physical=physical,
            agent=agent,
            visitors=visitors,
            stepper=stepper,
        )

    # -- the crew ------------------------------------------------------------------------

    def _start_crew(self) -> None:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"sim-crew-{uuid.uuid4().hex[:6]}"
        )

        def on_connect(c: mqtt.Client, *args: Any) -> None:
            c.subscribe("fleet/v1/pickups/#", qos=1)

        def on_message(c: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
            try:
                self._inbox.put(decode(Pickup, bytes(message.payload), topic=message.topic))
            except ValueError as err:
                log.warning("crew ignored a pickup message: %s", err)

        client.on_connect = on_connect
        client.on_message = on_message
        client.connect_async(self.endpoint.host, self.endpoint.port, keepalive=30)
        client.loop_start()
        self._crew = client

    def read_pickups(self) -> None:
        """Act on the pickup messages the crew has received (called from the sim loop)."""
        while True:
            try:
                pickup = self._inbox.get_nowait()
            except queue.Empty:
                return
            notice = PickupNotice(pickup, self.clock.monotonic())
            self.pickups_seen.append(notice)
            if self.on_pickup:
                self.on_pickup(notice)
            sim_bin = self._by_id.get(pickup.bin_id)
            if sim_bin is None:
                continue
            if pickup.status in ("requested", "scheduled", "escalated"):
                self._plan_emptying(sim_bin, pickup)

    def _plan_emptying(self, sim_bin: SimBin, pickup: Pickup) -> None:
        """The crew comes some hours after a request, aiming to arrive before ``due_by``;
        a pickup made more urgent (or escalated) brings the visit forward."""
        low, high = self.options.crew_delay_h
        hours_left = (pickup.due_by - self.clock.now()).total_seconds() / HOUR
        if pickup.status == "escalated":
            high = low
        latest = max(low, min(high, 0.9 * hours_left))
        when = self.clock.monotonic() + self.rng.uniform(low, latest) * HOUR
        if when < sim_bin.crew_due:
            sim_bin.crew_due = when
            self.loop.at(when, lambda: self._empty(sim_bin, when))

    def _empty(self, sim_bin: SimBin, planned: float) -> None:
        if planned != sim_bin.crew_due:
            return  # the visit was brought forward and has happened already
        sim_bin.crew_due = math.inf
        if sim_bin.physical.contents_volume_l <= 0:
            return
        sim_bin.physical.empty()
        sim_bin.counters.emptied += 1
        sim_bin.stepper.poke()

    # -- bookkeeping ---------------------------------------------------------------------

    def _account_full(self, period: float) -> None:
        for sim_bin in self.bins:
            if "overflow" in sim_bin.agent.runtime.state.active_alarms:
                sim_bin.counters.full_s += period
        self.loop.after(period, lambda: self._account_full(period))

    # -- running -------------------------------------------------------------------------

    def start(self) -> None:
        """Connect every agent and the crew; schedule the first visitors."""
        self._start_crew()
        for sim_bin in self.bins:
            sim_bin.agent.start_link()
            sim_bin.stepper.poke()
            sim_bin.visitors.start()
        self.loop.after(300.0, lambda: self._account_full(300.0))

    def run(self, progress: Callable[[float], None] | None = None) -> None:
        """Simulate ``options.days`` of virtual time, paced by ``options.speed``."""
        self.loop.run(
            self.options.days * 86_400,
            speed=self.options.speed,
            after_each=self.read_pickups,
            progress=progress,
        )

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait (real time) until every agent's outbox is empty."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read_pickups()
            if all(b.agent.outbox.stats().depth == 0 for b in self.bins):
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Say goodbye from every agent and disconnect the crew."""
        for sim_bin in self.bins:
            sim_bin.agent.stop()
        if self._crew is not None:
            self._crew.disconnect()
            self._crew.loop_stop()
        self.read_pickups()

    def summary(self) -> dict[str, Any]:
        """Totals over the fleet."""
        totals = BinCounters()
        visits = VisitCounters()
        for sim_bin in self.bins:
            for name in vars(totals):
                setattr(totals, name, getattr(totals, name) + getattr(sim_bin.counters, name))
            for name in vars(visits):
                setattr(
                    visits, name, getattr(visits, name) + getattr(sim_bin.visitors.counters, name)
                )
        requested = {n.pickup.pickup_id for n in self.pickups_seen}
        collected = {
            n.pickup.pickup_id for n in self.pickups_seen if n.pickup.status == "collected"
        }
        return {
            "bins": len(self.bins),
            "virtual_days": self.options.days,
            "visitors": visits.visitors,
            "deposits": visits.items,
            "accepted": visits.accepted,
            "rejected": visits.rejected,
            "turned_away": visits.turned_away,
            "pickups": len(requested),
            "collected": len(collected),
            "emptied": totals.emptied,
            "hours_full": round(totals.full_s / HOUR, 1),
        }

    def summary_json(self) -> str:
        """The summary as one JSON object."""
        return json.dumps(self.summary())
