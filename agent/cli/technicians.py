"""``bin-agent selftest`` and ``bin-agent calibrate ...``: the technician's commands.

Thin: they load the configuration, build the hardware through the configured backend,
call :mod:`agent.ops.selftest` or :mod:`agent.ops.calibration`, and turn errors into one line on
stderr and exit code 1. They hold the agent's instance lock while they drive the pins,
so they refuse to run beside a running agent (and an agent cannot start meanwhile).
On a simulated bin the "technician" steps (empty the tray, put the mass on it) are
carried out on the simulated tray.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, runtime_checkable

import click
from rich.console import Console
from rich.table import Table

from agent.cli.support import fail, load_or_exit
from agent.clock import SystemClock
from agent.errors import AgentError, HardwareUnavailable
from agent.hardware import build_hardware
from agent.hardware.devices import BinHardware, DeviceError
from agent.ops.calibration import (
    CalibrationError,
    DistanceSensor,
    RawScale,
    measure_empty_depth,
    measure_scale,
    measure_tare,
    write_calibration,
)
from agent.ops.instance_lock import InstanceLock, agent_running, lock_path
from agent.ops.selftest import run_selftest
from firmware_config.schema import DeviceConfig

CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Device configuration file (TOML).",
)
YES_OPTION = click.option(
    "--yes", "-y", is_flag=True, help="Do not wait for Enter before measuring."
)
VERDICT_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}


@runtime_checkable
class SimulatedTray(Protocol):
    """What a simulated bin offers in place of a technician's hands."""

    def place_test_mass(self, mass_g: float) -> None:
        """Put a calibration mass on the tray."""
        ...

    def clear_tray(self) -> None:
        """Take everything off the tray."""
        ...


@contextmanager
def _agent_lock(config: DeviceConfig, command: str) -> Iterator[None]:
    """Hold the agent's instance lock: a running agent drives the same pins (two
    processes bit-banging one HX711 read garbage, and a self-test moves the flap).

    Where the database's directory does not exist no agent can be running, and none is
    created for the lock (a technician's command leaves no state behind)."""
    if not config.storage.path.parent.is_dir():
        yield
        return
    try:
        lock = InstanceLock(config.storage.path)
    except (AgentError, OSError) as err:
        try:
            running = agent_running(config.storage.path)
        except (AgentError, OSError):
            running = False
        hint = "; stop it first (systemctl stop revloop-agent)" if running else ""
        lock_file = lock_path(config.storage.path)
        named = "" if str(lock_file) in str(err) else f" (agent lock {lock_file})"
        fail(f"{command}: {err}{named}{hint}")
    try:
        yield
    finally:
        lock.release()


@contextmanager
def _hardware(config: DeviceConfig, command: str) -> Iterator[BinHardware]:
    with _agent_lock(config, command):
        try:
            hardware = build_hardware(config, SystemClock())
        except HardwareUnavailable as err:
            fail(str(err))
        try:
            yield hardware
        except DeviceError as err:
            fail(str(err))
        except CalibrationError as err:
            fail(str(err))
        finally:
            hardware.close()


def _technician_step(
    hardware: BinHardware, instruction: str, yes: bool, simulate: Callable[[SimulatedTray], None]
) -> None:
    simulation = hardware.simulation
    if isinstance(simulation, SimulatedTray):
        simulate(simulation)
        click.echo(f"(simulated) {instruction}")
    elif not yes:
        click.prompt(f"{instruction}, then press Enter", default="", show_default=False)


@click.command("selftest")
@CONFIG_OPTION
def selftest_command(config_path: Path) -> None:
    """Exercise every device (moves the flap, lock, LEDs and buzzer); exit 1 on a failure."""
    config = load_or_exit(config_path)
    with _hardware(config, "bin-agent selftest") as hardware:
        results = run_selftest(hardware)
    table = Table(title=f"Self-test of {config.identity.bin_id} ({config.hardware.backend})")
    for column in ("check", "component", "result", "detail"):
        table.add_column(column)
    for result in results:
        style = VERDICT_STYLE[result.verdict]
        table.add_row(
            result.name, result.component, f"[{style}]{result.verdict.upper()}[/]", result.detail
        )
    Console(soft_wrap=True).print(table)
    failed = [r.name for r in results if r.verdict == "fail"]
    if failed:
        click.echo(f"self-test failed: {', '.join(failed)}", err=True)
        sys.exit(1)


@click.group("calibrate")
def calibrate_group() -> None:
    """Calibrate the load cell or the fill sensor and write the result to the config."""


def _raw_scale(hardware: BinHardware) -> RawScale:
    if not isinstance(hardware.scale, RawScale):
        fail(f"the {type(hardware.scale).__name__} scale cannot be calibrated")
    return hardware.scale


@calibrate_group.command("tare")
@CONFIG_OPTION
@YES_OPTION
def calibrate_tare(config_path: Path, yes: bool) -> None:
    """Zero the load cell with the tray empty (writes calibration.tare_offset)."""
    config = load_or_exit(config_path)
    with _hardware(config, "bin-agent calibrate tare") as hardware:
        scale = _raw_scale(hardware)
        _technician_step(hardware, "Empty the tray", yes, lambda sim: sim.clear_tray())
        offset = measure_tare(scale)
        write_calibration(config_path, {"tare_offset": offset})
    click.echo(f"calibration.tare_offset = {offset} written to {config_path}")


@calibrate_group.command("scale")
@CONFIG_OPTION
@click.option(
    "--mass-g",
    type=click.FloatRange(min=1.0, max=50_000.0),
    required=True,
    help="The known mass placed on the tray, in grams.",
)
@YES_OPTION
def calibrate_scale(config_path: Path, mass_g: float, yes: bool) -> None:
    """Counts per gram from a known mass (tare first; writes calibration.scale_counts_per_g)."""
    config = load_or_exit(config_path)
    with _hardware(config, "bin-agent calibrate scale") as hardware:
        scale = _raw_scale(hardware)
        _technician_step(
            hardware, f"Put {mass_g:g} g on the tray", yes, lambda sim: sim.place_test_mass(mass_g)
        )
        counts = measure_scale(scale, mass_g)
        write_calibration(config_path, {"scale_counts_per_g": counts})
    click.echo(f"calibration.scale_counts_per_g = {counts:.3f} written to {config_path}")


@calibrate_group.command("empty-depth")
@CONFIG_OPTION
@YES_OPTION
def calibrate_empty_depth(config_path: Path, yes: bool) -> None:
    """Distance to the floor of the empty container (writes calibration.empty_distance_mm)."""
    config = load_or_exit(config_path)
    with _hardware(config, "bin-agent calibrate empty-depth") as hardware:
        sensor = hardware.fill
        if not isinstance(sensor, DistanceSensor):
            fail(f"the {type(sensor).__name__} fill sensor cannot be calibrated")
        if not yes and hardware.simulation is None:
            click.prompt(
                "Empty the container and close the lid, then press Enter",
                default="",
                show_default=False,
            )
        depth = measure_empty_depth(sensor, hardware.temperature.read_c())
        if depth <= config.calibration.full_distance_mm:
            raise CalibrationError(
                f"measured {depth:.0f} mm, not beyond calibration.full_distance_mm "
                f"({config.calibration.full_distance_mm:g} mm): is the container empty?"
            )
        write_calibration(config_path, {"empty_distance_mm": round(depth, 1)})
    click.echo(f"calibration.empty_distance_mm = {depth:.1f} written to {config_path}")
