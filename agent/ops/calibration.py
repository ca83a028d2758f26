"""Calibrating the load cell and the fill sensor, and writing the result back.

Measurements go through the drivers; the values are written into the configuration
file's ``[calibration]`` table with tomlkit, so comments, order and every other key stay
as they were. The new text is validated before it replaces the file, and it replaces it
atomically (a temporary file in the same directory, fsync, ``os.replace``): a power cut
leaves either the old file or the new one, never half of each.
"""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable

import tomlkit
from tomlkit.items import Table

from agent.errors import AgentError
from agent.hardware.devices import FillReading
from firmware_config import parse_config
from firmware_config.schema import Calibration

logger = logging.getLogger(__name__)


class CalibrationError(AgentError, ValueError):
    """A calibration could not be measured or would be invalid."""


@runtime_checkable
class RawScale(Protocol):
    """A scale that exposes its raw counts and its calibration (the HX711 driver does)."""

    calibration: Calibration

    def read_raw(self, samples: int | None = None) -> int:
        """Median raw reading."""
        ...


@runtime_checkable
class DistanceSensor(Protocol):
    """A fill sensor that can measure any distance up to its range."""

    def measure_distance(self, temp_c: float | None = None) -> FillReading:
        """Median distance of a round of pings."""
        ...


def measure_tare(scale: RawScale, samples: int = 15) -> int:
    """The raw reading of the empty tray."""
    return scale.read_raw(samples)


def measure_scale(scale: RawScale, mass_g: float, samples: int = 15) -> float:
    """Raw counts per gram, from ``mass_g`` on the tray and the current tare offset."""
    if mass_g <= 0:
        raise CalibrationError(f"the calibration mass must be positive, not {mass_g} g")
    raw = scale.read_raw(samples)
    counts = (raw - scale.calibration.tare_offset) / mass_g
    if counts < 1.0:
        raise CalibrationError(
            f"the reading rose by {raw - scale.calibration.tare_offset} counts for {mass_g:g} g: "
            "is the mass on the tray, and was the empty tray tared first?"
        )
    return counts


def measure_empty_depth(
    sensor: DistanceSensor, temp_c: float | None = None, rounds: int = 3
) -> float:
    """The distance to the floor of the empty container: the median of a few rounds."""
    return float(
        statistics.median(sensor.measure_distance(temp_c).distance_mm for _ in range(rounds))
    )


def write_calibration(path: Path, values: dict[str, int | float]) -> None:
    """Set ``calibration.<key> = value`` in the TOML file at ``path``, keeping the rest.

    Raises CalibrationError (and leaves the file untouched) if the result does not
    validate, e.g. an empty depth above the full distance, or if the file cannot be
    read or replaced (permissions, a read-only file system, a full card).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise CalibrationError(f"{path}: cannot read the configuration: {_reason(err)}") from None
    except UnicodeDecodeError as err:
        raise CalibrationError(f"{path}: not UTF-8 text ({err.reason})") from None
    document = tomlkit.parse(text)
    table = document.get("calibration")
    if table is None:
        table = tomlkit.table()
        document["calibration"] = table
    if not isinstance(table, Table):
        raise CalibrationError(f"{path}: 'calibration' is not a table")
    for key, value in values.items():
        if key not in Calibration.model_fields:
            raise CalibrationError(f"calibration.{key} is not a calibration value")
        table[key] = round(value, 3) if isinstance(value, float) else value
    new_text = tomlkit.dumps(document)
    try:
        parse_config(new_text, source=path, base_dir=path.resolve().parent)
    except ValueError as err:
        raise CalibrationError(f"not written: {err}") from None
    try:
        atomic_write_text(path, new_text)
    except OSError as err:
        raise CalibrationError(
            f"{path}: calibration not written, the file is unchanged: {_reason(err)}"
        ) from None
    logger.info("calibration written to %s: %s", path, values)


def _reason(err: OSError) -> str:
    """An OSError's reason without repeating its file name ("Permission denied")."""
    return err.strerror or str(err)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically, keeping its permissions."""
    directory = path.resolve().parent
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    handle, temp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as temp:
            temp.write(text)
            temp.flush()
            os.fsync(temp.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
