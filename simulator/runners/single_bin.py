"""``bin-sim bin``: one simulated bin with its real classifier, watched deposit by deposit.

The bin's profile chooses the depth (``sim-device`` or ``sim-pin``). Visitors come as
the world model says; each item's photo (from the photo set, by material) goes through
the configured classifier, and every decision is reported with the item that caused it.
On the pin level the bin runs on the simulator's virtual clock, so the decision times
are bin time.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from agent.app import Agent
from agent.classifier import build_classifier
from agent.clock import ManualClock
from agent.intake import Decision
from firmware_config.schema import DeviceConfig
from protocol.transport import BrokerUrl
from simulator.device.hardware import build_device_hardware
from simulator.device.physical import Item
from simulator.pins.backend import PinSimulation, build_pin_hardware, physical_from_config
from simulator.pins.clock import PinClock
from simulator.runners.event_loop import EventLoop, VirtualClock
from simulator.runners.fleet import LoopScheduler
from simulator.world.arrivals import ArrivalProcess, ItemCatalog
from simulator.world.visitors import VisitCounters, Visitors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Observed:
    """A decision and the item it was about."""

    item: Item | None
    decision: Decision
    when: str


def run_single_bin(
    config: DeviceConfig,
    endpoint: BrokerUrl,
    *,
    hours: float,
    speed: float,
    on_deposit: Callable[[Observed], None],
) -> VisitCounters:
    """Run one simulated bin for ``hours`` of virtual time; report every deposit."""
    backend = config.hardware.backend
    physical = physical_from_config(config)
    clock: VirtualClock
    if backend == "sim-pin":
        hardware = build_pin_hardware(config, None, physical)
        assert isinstance(hardware.simulation, PinSimulation)
        agent_clock: PinClock | ManualClock = PinClock(hardware.simulation.gpio.clock)
    elif backend == "sim-device":
        agent_clock = ManualClock()
        hardware = build_device_hardware(config, agent_clock, physical)
    else:
        raise ValueError(
            f"hardware.backend = {backend!r}: bin-sim bin runs sim-device or sim-pin profiles"
        )
    clock = agent_clock
    agent = Agent.build(
        config,
        hardware,
        agent_clock,
        endpoint=endpoint,
        idle_poll_s=config.intervals.door_poll_ms / 1000.0,
        classifier=build_classifier(config.classifier),
    )
    loop = EventLoop(clock)
    stepper = loop.stepper(agent.runtime)
    rng = random.Random(config.simulation.seed)
    arrivals = ArrivalProcess(
        rng, config.simulation.deposits_per_hour, rhythm=config.simulation.daily_rhythm
    )
    visitors = Visitors(
        physical, arrivals, ItemCatalog(rng), LoopScheduler(loop, stepper), agent_clock
    )

    def observe(decision: Decision) -> None:
        on_deposit(Observed(visitors.last_item, decision, f"{agent_clock.now():%a %H:%M:%S}"))

    agent.runtime.deposit_listeners.append(observe)
    try:
        agent.start_link()
        stepper.poke()
        visitors.start()
        loop.run(hours * 3600.0, speed=speed)
        if not agent.outbox.wait_drained(10.0):
            log.warning("%s stops with unacknowledged messages", config.identity.bin_id)
    finally:
        agent.stop()
    return visitors.counters
