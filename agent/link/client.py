"""The bin's paho client, set up from its broker settings (:mod:`protocol.mqtt_client`).

Its client id is the bin id; TLS is on when the settings or the broker URL ask for it;
a certificate file that is missing or unusable is an :class:`~agent.errors.AgentError`
naming its key, raised before any connection is tried.
"""

from __future__ import annotations

import paho.mqtt.client as mqtt

from agent.errors import AgentError
from firmware_config.schema import Broker
from protocol.mqtt_client import ClientOptions, ClientSetupError, TlsFiles, new_client
from protocol.transport import BrokerUrl


def bin_client(bin_id: str, broker: Broker, endpoint: BrokerUrl) -> tuple[mqtt.Client, bool]:
    """A client for ``bin_id`` on ``broker``, and whether it speaks TLS."""
    tls = broker.tls
    files = (
        TlsFiles("broker.tls", tls.ca_file, tls.cert_file, tls.key_file)
        if tls.enabled or endpoint.tls
        else None
    )
    options = ClientOptions(
        client_id=bin_id,
        mqtt5=broker.protocol == "5",
        tls=files,
        username=broker.username,
        password=broker.password() if broker.username is not None else None,
    )
    try:
        return new_client(options), files is not None
    except ClientSetupError as err:
        raise AgentError(str(err)) from err
