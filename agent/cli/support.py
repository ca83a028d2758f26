"""What every ``bin-agent`` command shares: loading the configuration, failing in one line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from firmware_config import ConfigError, DeviceConfig, load_config


def load_or_exit(file: Path) -> DeviceConfig:
    """Load a configuration, or print its errors (one per line, with key paths) and exit 1."""
    try:
        return load_config(file)
    except ConfigError as err:
        for issue in err.issues:
            click.echo(f"{file}: {issue}", err=True)
        sys.exit(1)


def fail(message: str) -> NoReturn:
    """Print one line on stderr and exit 1: expected failures get no traceback."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)
