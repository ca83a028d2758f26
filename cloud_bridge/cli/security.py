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

from cloud_bridge.cli.output import print_table, table_console
from cloud_bridge.cli.tables import certificates_table
from cloud_bridge.security.broker_config import (
    AUTOSAVE_INTERVAL_S,
    MAX_QUEUED_BYTES,
    MAX_QUEUED_MESSAGES,
    BrokerLayout,
)
from cloud_bridge.security.broker_files import BROKER_USER, CONF_TARGET, BrokerUser, write_bundle
from cloud_bridge.security.pki import (
    CA_DAYS,
    LEAF_DAYS,
    Issued,
    PkiError,
    init_ca,
    issue_bin,
    issue_bridge,
    issue_client,
    issue_server,
)
from cloud_bridge.security.registry import RegistryError, parse_serial
from cloud_bridge.security.revocation import (
    CRL_DAYS,
    CRL_FILE,
    crl_info,
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
    except (PkiError, RegistryError, OSError) as err:
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
@click.argument("name", required=False)
@click.option(
    "--serial",
    "serials",
    multiple=True,
    help="Revoke only this certificate, by its serial (hex, as `pki list` shows it; repeat).",
)
@_dir_option
def pki_revoke(name: str | None, serials: tuple[str, ...], directory: Path) -> None:
    """Revoke every certificate ever issued to NAME (renewed ones too), or --serial ones.

    NAME is a bin id, a reader or revloop-bridge. Writes crl.pem, which the broker needs.
    """
    if (name is None) == (not serials):
        raise click.UsageError("give NAME or --serial SERIAL (not both)")
    try:
        numbers = [parse_serial(serial) for serial in serials]
    except RegistryError as err:
        raise click.BadParameter(str(err), param_hint="--serial") from None
    with _pki_errors():
        done = revoke(directory, name, serials=numbers)
    for entry in done.revoked:
        until = "" if entry.not_after is None else f", valid until {entry.not_after:%Y-%m-%d}"
        click.echo(f"revoked {entry.name} serial {entry.serial_hex}{until}")
    click.echo(f"install {done.crl} on the broker and restart it")


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
    """Every certificate issued (revoked and replaced ones too), soonest expiry first,
    and when the revocation list expires."""
    with _pki_errors():
        certificates = list_certificates(directory)
        crl = crl_info(directory)
    now = datetime.now(UTC)
    console = table_console()
    print_table(certificates_table(certificates, directory, now), console)
    if crl is None:
        console.print("revocation list: none (nothing revoked yet)")
    elif crl.next_update is None:
        console.print(f"revocation list: {crl.path} names {crl.revoked}, never expires")
    else:
        days = (crl.next_update - now).days
        expired = "[red]EXPIRED: the broker refuses everyone[/red]; " if days < 0 else ""
        console.print(
            f"revocation list: {crl.path} names {crl.revoked}, expires "
            f"{crl.next_update:%Y-%m-%d %H:%M} UTC ({days} days); {expired}"
            "re-sign it with `bin-bridge pki crl` before then",
            soft_wrap=True,
        )


@click.command("broker-config")
@_dir_option
@click.option("--port", type=click.IntRange(1, 65535), default=8883, show_default=True)
@click.option(
    "--bind",
    default="0.0.0.0",
    show_default=True,
    help="Address the listener binds to (0.0.0.0: every IPv4 interface).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Configuration file to write [default: DIR/broker/revloop.conf]; the ACL, the "
    "broker's TLS files (certs/) and install.sh go beside it.",
)
@click.option(
    "--certs-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("/etc/mosquitto/certs"),
    show_default=True,
    help="Where the broker reads ca.crt, server.crt, server.key (install.sh puts them there).",
)
@click.option(
    "--acl-path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("/etc/mosquitto/revloop.acl"),
    show_default=True,
    help="Where the broker reads the ACL file.",
)
@click.option(
    "--conf-path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=CONF_TARGET,
    show_default=True,
    help="Where install.sh puts the configuration.",
)
@click.option(
    "--broker-user",
    default=BROKER_USER,
    show_default=True,
    help="The user the broker runs as: its group may read the files (checked where they exist).",
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
    certs_dir: Path,
    acl_path: Path,
    conf_path: Path,
    broker_user: str,
    persistence_dir: Path | None,
    readers: tuple[str, ...],
    topic_prefix: str,
    max_queued_messages: int,
    max_queued_bytes: int,
    autosave_interval: int,
) -> None:
    """Write the Mosquitto TLS listener configuration, its topic ACL and the broker's
    TLS files, with install.sh to install them on the broker host.

    When DIR holds a revocation list (crl.pem, from `pki revoke`), the broker checks it.
    """
    conf_out = out or directory / "broker" / "revloop.conf"
    layout = BrokerLayout(
        crl=(directory / CRL_FILE).exists(),
        port=port,
        bind=bind,
        certs_dir=certs_dir.absolute(),
        acl_file=acl_path.absolute(),
        persistence_dir=persistence_dir.absolute() if persistence_dir else None,
        topic_prefix=topic_prefix,
        max_queued_messages=max_queued_messages,
        max_queued_bytes=max_queued_bytes,
        autosave_interval_s=autosave_interval,
    )
    with _pki_errors():
        bundle = write_bundle(
            directory,
            conf_out,
            layout,
            readers=readers,
            user=BrokerUser.lookup(broker_user),
            conf_target=conf_path,
        )
    group = f"group {broker_user}" if bundle.grouped else "your group: install.sh fixes it"
    click.echo(
        f"wrote {bundle.conf}, {bundle.acl}, {bundle.certs}/ (server.key 0640, {group}) "
        f"and {bundle.install_script}"
    )
    click.echo("on the broker host, as root: sh install.sh && systemctl restart mosquitto")
    for warning in bundle.warnings:
        click.echo(f"warning: {warning}; the broker could not start", err=True)
