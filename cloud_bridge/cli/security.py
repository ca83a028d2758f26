"""``bin-bridge pki ...`` and ``bin-bridge broker-config``: a deployment's certificates
and broker configuration (see docs/operations.md).

Thin: the work lives in :mod:`cloud_bridge.security.pki` and
:mod:`cloud_bridge.security.broker_config`; errors are one line on stderr and exit code 1.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click

from cloud_bridge.security.broker_config import (
    AUTOSAVE_INTERVAL_S,
    MAX_QUEUED_BYTES,
    MAX_QUEUED_MESSAGES,
    BrokerLayout,
    write_broker_config,
)
from cloud_bridge.security.pki import (
    CA_DAYS,
    CRL_DAYS,
    CRL_FILE,
    LEAF_DAYS,
    Issued,
    PkiError,
    init_ca,
    issue_bin,
    issue_bridge,
    issue_client,
    issue_server,
    list_certificates,
    revoke,
    write_crl,
)

_dir_option = click.option(
    "--dir",
    "directory",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="The deployment's PKI directory (holds the CA key: keep it offline).",
)
_days_option = click.option(
    "--days",
    type=click.IntRange(1, 36500),
    default=LEAF_DAYS,
    show_default=True,
    help="Validity in days (never beyond the CA's).",
)
_force_option = click.option("--force", is_flag=True, help="Replace an existing key and cert.")


@contextmanager
def _pki_errors() -> Iterator[None]:
    try:
        yield
    except (PkiError, OSError) as err:
        click.echo(f"bin-bridge: {err}", err=True)
        sys.exit(1)


def _issued(issued: Issued) -> None:
    click.echo(
        f"{issued.common_name}: {issued.cert} and {issued.key} (mode 0600), "
        f"valid until {issued.not_after:%Y-%m-%d}"
    )


@click.group("pki")
def pki_group() -> None:
    """The deployment's private certificate authority and its certificates."""


@pki_group.command("init")
@_dir_option
@click.option("--name", default="Revloop private CA", show_default=True, help="CA name.")
@click.option(
    "--days", type=click.IntRange(1, 36500), default=CA_DAYS, show_default=True, help="Validity."
)
def pki_init(directory: Path, name: str, days: int) -> None:
    """Create the CA (refuses to replace an existing one)."""
    with _pki_errors():
        _issued(init_ca(directory, name=name, days=days))


@pki_group.command("issue-server")
@_dir_option
@click.option(
    "--host",
    "hosts",
    multiple=True,
    required=True,
    help="A DNS name or IP address clients use for the broker (repeat; the first is the CN).",
)
@_days_option
@_force_option
def pki_issue_server(directory: Path, hosts: tuple[str, ...], days: int, force: bool) -> None:
    """Issue the broker's server certificate."""
    with _pki_errors():
        _issued(issue_server(directory, list(hosts), days=days, force=force))


@pki_group.command("issue-bin")
@click.argument("bin_id")
@_dir_option
@_days_option
@_force_option
def pki_issue_bin(bin_id: str, directory: Path, days: int, force: bool) -> None:
    """Issue BIN_ID's client certificate (CN = BIN_ID) into DIR/bins/."""
    with _pki_errors():
        _issued(issue_bin(directory, bin_id, days=days, force=force))


@pki_group.command("issue-bridge")
@_dir_option
@_days_option
@_force_option
def pki_issue_bridge(directory: Path, days: int, force: bool) -> None:
    """Issue the bridge's client certificate (CN = revloop-bridge)."""
    with _pki_errors():
        _issued(issue_bridge(directory, days=days, force=force))


@pki_group.command("issue-client")
@click.argument("name")
@_dir_option
@_days_option
@_force_option
def pki_issue_client(name: str, directory: Path, days: int, force: bool) -> None:
    """Issue a reader's certificate (NAME contains a dot, e.g. scheduler.north)."""
    with _pki_errors():
        _issued(issue_client(directory, name, days=days, force=force))


@pki_group.command("revoke")
@click.argument("name")
@_dir_option
def pki_revoke(name: str, directory: Path) -> None:
    """Revoke NAME's certificate (a bin id, a reader or revloop-bridge); writes crl.pem."""
    with _pki_errors():
        path = revoke(directory, name)
    click.echo(f"{name} revoked; install {path} on the broker and restart it")


@pki_group.command("crl")
@_dir_option
@click.option(
    "--days", type=click.IntRange(1, 3650), default=CRL_DAYS, show_default=True, help="Validity."
)
def pki_crl(directory: Path, days: int) -> None:
    """Re-sign the revocation list (before it expires, or the broker refuses everyone)."""
    with _pki_errors():
        path = write_crl(directory, days=days)
    click.echo(f"wrote {path}, valid for {days} days")


@pki_group.command("list")
@_dir_option
def pki_list(directory: Path) -> None:
    """Every certificate with its expiry, soonest first."""
    with _pki_errors():
        certificates = list_certificates(directory)
    now = datetime.now(UTC)
    for info in certificates:
        days = (info.not_after - now).days
        kind = "CA" if info.is_ca else "  "
        click.echo(
            f"{kind} {info.common_name:<40} {info.not_after:%Y-%m-%d} "
            f"({days} days)  {info.path.relative_to(directory)}"
        )


@click.command("broker-config")
@_dir_option
@click.option("--port", type=click.IntRange(1, 65535), default=8883, show_default=True)
@click.option("--bind", default="0.0.0.0", show_default=True, help="Listener address.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Configuration file to write [default: DIR/mosquitto.conf]; the ACL goes beside it.",
)
@click.option(
    "--certs-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where the broker finds ca.crt, server.crt, server.key [default: DIR].",
)
@click.option(
    "--acl-path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where the broker finds the ACL file [default: where it is written].",
)
@click.option(
    "--persistence-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Turn persistence on, in this directory (Debian's main file already does).",
)
@click.option("--reader", "readers", multiple=True, help="A reader of fleet/v1/# (repeat).")
@click.option("--topic-prefix", default="bins/v1", show_default=True)
@click.option(
    "--max-queued-messages",
    type=click.IntRange(min=1),
    default=MAX_QUEUED_MESSAGES,
    show_default=True,
    help="Messages kept for one offline client (the bridge's session holds the fleet's).",
)
@click.option(
    "--max-queued-bytes",
    type=click.IntRange(min=1),
    default=MAX_QUEUED_BYTES,
    show_default=True,
    help="Payload bytes kept for one offline client.",
)
@click.option(
    "--autosave-interval",
    type=click.IntRange(min=1),
    default=AUTOSAVE_INTERVAL_S,
    show_default=True,
    help="Seconds between two saves of the broker's sessions and queues.",
)
def broker_config(
    directory: Path,
    port: int,
    bind: str,
    out: Path | None,
    certs_dir: Path | None,
    acl_path: Path | None,
    persistence_dir: Path | None,
    readers: tuple[str, ...],
    topic_prefix: str,
    max_queued_messages: int,
    max_queued_bytes: int,
    autosave_interval: int,
) -> None:
    """Write the Mosquitto TLS listener configuration and its topic ACL.

    When DIR holds a revocation list (crl.pem, from `pki revoke`), the broker checks it.
    """
    conf_path = out or directory / "mosquitto.conf"
    acl_out = conf_path.with_suffix(".acl")
    layout = BrokerLayout(
        crl=(directory / CRL_FILE).exists(),
        port=port,
        bind=bind,
        certs_dir=(certs_dir or directory).absolute(),
        acl_file=(acl_path or acl_out).absolute(),
        persistence_dir=persistence_dir.absolute() if persistence_dir else None,
        topic_prefix=topic_prefix,
        max_queued_messages=max_queued_messages,
        max_queued_bytes=max_queued_bytes,
        autosave_interval_s=autosave_interval,
    )
    with _pki_errors():
        written = write_broker_config(
            layout,
            conf_path,
            acl_out,
            pki_dir=directory if certs_dir is None else None,
            readers=readers,
        )
    click.echo(f"wrote {written[0]} and {written[1]}")
