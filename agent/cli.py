"""``bin-agent``: the command line of one bin.

The CLI parses arguments and turns domain errors into one-line messages and exit
codes; the work lives in the library modules.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from agent.classifier.cli import model_group
from firmware_config import ConfigError, load_config


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="revloop", prog_name="bin-agent")
def cli() -> None:
    """Run and service one Revloop collection bin."""


@cli.group("config")
def config_group() -> None:
    """Check device configuration files."""


@config_group.command("validate")
@click.argument("file", type=click.Path(path_type=Path))
def config_validate(file: Path) -> None:
    """Validate FILE; print every error with its key path and exit 1 if there is any."""
    try:
        config = load_config(file)
    except ConfigError as err:
        for issue in err.issues:
            click.echo(f"{file}: {issue}", err=True)
        sys.exit(1)
    click.echo(f"{file}: valid configuration for bin {config.identity.bin_id}")


cli.add_command(model_group)


def main() -> None:
    """Console-script entry point."""
    cli()
