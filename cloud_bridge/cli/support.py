"""What the ``bin-bridge`` commands share: common options, settings, readers, errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from cloud_bridge.cli.api_client import TOKEN_ENV, URL_ENV
from cloud_bridge.config.broker import parse_broker_url
from cloud_bridge.config.settings import BridgeSettings, load_settings
from cloud_bridge.errors import BridgeError
from cloud_bridge.store import Store, open_store

config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    help="TOML settings file (see docs/bridge.md).",
)
db_option = click.option(
    "--db", type=click.Path(path_type=Path), help="SQLite database (overrides store.path)."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
api_option = click.option(
    "--api", "api_url", help=f"Base URL of the bridge's API (default ${URL_ENV})."
)
token_option = click.option(
    "--token-env",
    default=TOKEN_ENV,
    show_default=True,
    help="Environment variable holding the API token (never give the token itself).",
)


NEEDS_ONE_OF = "needs_one_of"
"""Attribute naming the options of which a command needs one (the README's table shows it)."""

_F = TypeVar("_F", bound=Callable[..., Any])


def needs_one_of(*options: str) -> Callable[[_F], _F]:
    """Mark a command that cannot run without one of ``options`` (say ``--db``, ``--config``).

    Click cannot express "one of these" itself; the command checks it when it runs, and
    this mark lets the generated command reference say so.
    """

    def mark(fn: _F) -> _F:
        setattr(fn, NEEDS_ONE_OF, options)
        return fn

    return mark


def fail(message: str) -> NoReturn:
    """Print a one-line error and exit 1."""
    click.echo(f"bin-bridge: {message}", err=True)
    sys.exit(1)


def bridge_settings(
    config_file: Path | None, db: Path | None, broker: str | None
) -> BridgeSettings:
    """Settings from the file (or defaults) with the command line's overrides."""
    settings = load_settings(config_file) if config_file else BridgeSettings()
    if broker is not None:
        parse_broker_url(broker)
        settings = settings.model_copy(
            update={"broker": settings.broker.model_copy(update={"url": broker})}
        )
    if db is not None:
        settings = settings.model_copy(
            update={"store": settings.store.model_copy(update={"path": db})}
        )
    return settings


@contextmanager
def reader(config_file: Path | None, db: Path | None) -> Iterator[Store]:
    """The database opened read-only (it works while the bridge runs)."""
    if db is None and config_file is None:
        raise click.UsageError("give --db PATH or --config FILE")
    settings = bridge_settings(config_file, db, None)
    store = open_store(settings.store, readonly=True)
    try:
        yield store
    finally:
        store.close()


@contextmanager
def domain_errors() -> Iterator[None]:
    """Turn the bridge's own errors into one line on stderr and exit code 1."""
    try:
        yield
    except BridgeError as err:
        fail(str(err))


def print_json(rows: Any) -> None:
    """Indented JSON on stdout."""
    click.echo(json.dumps(rows, indent=2))
