"""Broker addresses as ``mqtt://HOST:PORT`` or ``mqtts://HOST:PORT`` (TLS) URLs."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    """Where a broker listens and whether to speak TLS to it."""

    host: str
    port: int
    tls: bool

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker_url(text: str) -> BrokerUrl:
    """Parse a broker URL; the error names the part that is wrong."""
    parts = urlsplit(text)
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError(f"broker URL {text!r}: scheme must be mqtt:// or mqtts://")
    if not parts.hostname:
        raise ValueError(f"broker URL {text!r}: no host")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise ValueError(f"broker URL {text!r}: port must be a number from 1 to 65535") from None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"broker URL {text!r}: unexpected path or query")
    return BrokerUrl(parts.hostname, port, parts.scheme == "mqtts")
