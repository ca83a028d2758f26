"""The ``sim-pin`` hardware backend: the real drivers on the pin-level simulator.

:func:`build_pin_hardware` wires device models to a :class:`SimGpio` on the configured
pins, around a :class:`PhysicalBin` the world model changes, and runs the agent's own
drivers (:func:`agent.hardware.drivers.assemble.build_drivers`) on top. The returned
``BinHardware.simulation`` is the :class:`PinSimulation`: the physical bin, the fault
injector, the simulated GPIO and its models.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from agent.clock import Clock
from agent.hardware.devices import BinHardware
from agent.hardware.drivers.assemble import build_drivers
from firmware_config.schema import DeviceConfig
from simulator.device.camera import ImageFolderCamera
from simulator.device.faults import FaultInjector
from simulator.device.physical import Item, PhysicalBin
from simulator.pins.gpio import SimGpio
from simulator.pins.hx711 import Hx711Model
from simulator.pins.onewire import SimW1Bus
from simulator.pins.outputs import LockModel, ServoFlapModel, SolenoidFlapModel
from simulator.pins.switch import BouncingSwitch
from simulator.pins.ultrasonic import UltrasonicModel
from simulator.world.visitors import StandaloneWorld

TEST_MASS_CATEGORY = "calibration-mass"


@dataclass
class PinSimulation:
    """The simulated world behind pin-level hardware."""

    physical: PhysicalBin
    faults: FaultInjector
    gpio: SimGpio
    hx711: Hx711Model
    ultrasonic: UltrasonicModel
    door: BouncingSwitch
    beam: BouncingSwitch
    flap: ServoFlapModel | SolenoidFlapModel
    lock: LockModel
    camera: ImageFolderCamera
    w1: SimW1Bus

    def place_test_mass(self, mass_g: float) -> None:
        """A technician puts a calibration mass on the tray."""
        with self.physical.lock:
            self.physical.tray = Item(category=TEST_MASS_CATEGORY, mass_g=mass_g, volume_l=0.0)

    def clear_tray(self) -> None:
        """A technician takes everything off the tray."""
        with self.physical.lock:
            self.physical.tray = None


def physical_from_config(config: DeviceConfig) -> PhysicalBin:
    """A physical bin as the configuration describes it, empty and closed."""
    sim = config.simulation
    depth = sim.pins.container_depth_mm or config.calibration.empty_distance_mm
    return PhysicalBin(
        container_depth_mm=depth,
        container_volume_l=sim.container_volume_l,
        air_temp_c=sim.pins.air_temp_c,
    )


def build_pin_hardware(
    config: DeviceConfig,
    clock: Clock | None,
    physical: PhysicalBin,
    faults: FaultInjector | None = None,
    *,
    edge_detection: bool = True,
) -> BinHardware:
    """The real drivers on simulated pins wired to ``physical``.

    ``clock`` is the agent's: virtual pin time never falls behind it (None: pin time
    moves only with the drivers). ``edge_detection=False`` emulates RPi.GPIO 0.7.1 on
    kernel 6.6, where edge detection fails and the drivers must poll.
    """
    sim = config.simulation
    circuit = sim.pins
    faults = faults or FaultInjector(sim.faults)
    seeds = random.Random(sim.seed)

    def rng() -> random.Random:
        return random.Random(seeds.getrandbits(32))

    gpio = SimGpio(
        call_cost_ns=max(1, round(circuit.gpio_call_us * 1000)),
        base_clock=clock,
        faults=faults,
        rng=rng(),
        edge_detection=edge_detection,
    )
    pins = config.pins

    def tray_mass_g() -> float:
        return physical.tray_mass_g

    def air_temp_c() -> float:
        return physical.air_temp_c

    def surface_mm() -> float:
        return physical.surface_distance_mm

    def door_open() -> bool:
        return physical.door_open or faults.door == "left_open"

    def beam_broken() -> bool:
        return physical.beam_broken

    hx711 = Hx711Model(
        dout=pins.hx711_dout,
        sck=pins.hx711_sck,
        load_g=tray_mass_g,
        temp_c=air_temp_c,
        faults=faults,
        rng=rng(),
        offset=circuit.hx711_offset,
        counts_per_g=circuit.hx711_counts_per_g,
        noise_counts=circuit.hx711_noise_counts,
        drift_counts_per_c=circuit.hx711_drift_counts_per_c,
        rate_sps=circuit.hx711_rate_sps,
    )
    ultrasonic = UltrasonicModel(
        trigger=pins.ultrasonic_trigger,
        echo=pins.ultrasonic_echo,
        sensor=config.hardware.ultrasonic_model,
        distance_mm=surface_mm,
        temp_c=air_temp_c,
        faults=faults,
        rng=rng(),
        noise_mm=circuit.ultrasonic_noise_mm,
        wall_echo_mm=circuit.wall_echo_mm,
        wall_echo_probability=circuit.wall_echo_probability,
    )
    bounce_ns = round(circuit.switch_bounce_ms * 1e6)
    door = BouncingSwitch(
        pin=pins.door_switch, state=door_open, active_level=1, bounce_ns=bounce_ns, rng=rng()
    )
    beam = BouncingSwitch(
        pin=pins.ir_beam, state=beam_broken, active_level=0, bounce_ns=bounce_ns, rng=rng()
    )
    flap: ServoFlapModel | SolenoidFlapModel = (
        ServoFlapModel(
            pin=pins.flap,
            physical=physical,
            faults=faults,
            open_pulse_us=config.flap.open_pulse_us,
            closed_pulse_us=config.flap.closed_pulse_us,
        )
        if config.hardware.flap == "servo"
        else SolenoidFlapModel(pin=pins.flap, physical=physical, faults=faults)
    )
    lock = LockModel(pin=pins.lock, physical=physical)
    for model in (hx711, ultrasonic, door, beam, flap, lock):
        gpio.attach(model)
    timing = gpio.clock
    camera = ImageFolderCamera(
        physical,
        images_dir=sim.images_dir,
        faults=faults,
        sleep=timing.sleep,
        capture_s=sim.camera_capture_ms / 1000.0,
    )
    w1 = SimW1Bus(temp_c=air_temp_c, faults=faults, rng=rng(), sleep=timing.sleep)
    simulation = PinSimulation(
        physical=physical,
        faults=faults,
        gpio=gpio,
        hx711=hx711,
        ultrasonic=ultrasonic,
        door=door,
        beam=beam,
        flap=flap,
        lock=lock,
        camera=camera,
        w1=w1,
    )
    bus = w1 if config.hardware.temperature_sensor != "none" else None
    return build_drivers(config, gpio, timing, camera, bus, simulation=simulation)


def build_hardware(config: DeviceConfig, clock: Clock) -> BinHardware:
    """Entry point ``sim-pin``: a fresh physical bin from the configuration, with the
    profile's ``[simulation.faults]`` injected and visitors ready for ``bin-agent run``."""
    physical = physical_from_config(config)
    hardware = build_pin_hardware(config, clock, physical)
    hardware.world = StandaloneWorld(
        physical,
        clock,
        seed=config.simulation.seed,
        peak_per_hour=config.simulation.deposits_per_hour,
        rhythm=config.simulation.daily_rhythm,
    )
    return hardware
