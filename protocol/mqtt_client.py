"""A paho client set up the one way both ends of the wire need it.

The bin (``agent``) and the bridge (``cloud_bridge.mqtt``) connect to the same broker
with the same habits: paho's version-2 callbacks, a persistent session (``clean_session``
off under MQTT 3.1.1, the session kept by the broker under MQTT 5), TLS verified
against the deployment's CA with an optional client certificate, and a user name and
password when the broker wants them. Each side then attaches its own callbacks.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class ClientSetupError(ValueError):
    """The client cannot be set up as configured; the message names the setting."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The certificate files of a TLS connection, and the settings key they came from.

    ``key`` (for example ``broker.tls``) prefixes every error, so an operator knows
    which line of which file to fix.
    """

    key: str
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """How one connection is set up: identity, protocol version, session, credentials."""

    client_id: str
    mqtt5: bool = False
    manual_ack: bool = False
    """Acknowledge received messages only when told (the bridge, after its commit)."""
    tls: TlsFiles | None = None
    """TLS with these files; ``None`` for a plain-text connection."""
    username: str | None = None
    password: str | None = None


def new_client(options: ClientOptions) -> mqtt.Client:
    """A paho client for ``options``, not yet connected and without callbacks.

    Raises :class:`ClientSetupError` naming the key when a certificate file is missing
    or unusable, instead of an ``OSError`` from deep inside ``ssl``.
    """
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=options.client_id,
        protocol=mqtt.MQTTv5 if options.mqtt5 else mqtt.MQTTv311,
        clean_session=None if options.mqtt5 else False,
        manual_ack=options.manual_ack,
    )
    if options.username is not None:
        client.username_pw_set(options.username, options.password)
    if options.tls is not None:
        _set_tls(client, options.tls)
    return client


def _set_tls(client: mqtt.Client, tls: TlsFiles) -> None:
    files = {"ca_file": tls.ca_file, "cert_file": tls.cert_file, "key_file": tls.key_file}
    for name, path in files.items():
        if path is not None and not path.is_file():
            raise ClientSetupError(f"{tls.key}.{name}: {path} does not exist")
    try:
        client.tls_set(
            ca_certs=str(tls.ca_file) if tls.ca_file else None,
            certfile=str(tls.cert_file) if tls.cert_file else None,
            keyfile=str(tls.key_file) if tls.key_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    except (OSError, ssl.SSLError) as err:
        raise ClientSetupError(f"{tls.key}: cannot use the certificate files: {err}") from err
