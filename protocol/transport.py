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

    @property
    def url(self) -> str:
        """The address written back as a URL."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def __str__(self) -> str:
        return self.url


def parse_broker_url(text: str) -> BrokerUrl:
    """Parse ``mqtt://HOST[:PORT]`` or ``mqtts://HOST[:PORT]``; the error names the bad part.

    Credentials are refused: they belong in the environment, not in a URL that ends up
    in process listings and logs.
    """
    try:
        parts = urlsplit(text)
    except ValueError as err:
        raise ValueError(f"broker URL {text!r}: {err}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(
            f"broker URL {text!r}: scheme {parts.scheme or '(none)'!r} is not mqtt or mqtts"
        )
    if parts.username or parts.password:
        raise ValueError(
            f"broker URL {text!r}: credentials do not belong in the URL; "
            "give a user name and the name of a password environment variable instead"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"broker URL {text!r}: unexpected path or query after the port")
    host = parts.hostname
    if not host:
        raise ValueError(f"broker URL {text!r}: host is missing")
    try:
        port = parts.port
    except ValueError:
        raw = parts.netloc.rpartition(":")[2]
        raise ValueError(f"broker URL {text!r}: port {raw!r} is not in 1..65535") from None
    if port == 0:
        raise ValueError(f"broker URL {text!r}: port 0 is not in 1..65535")
    return BrokerUrl(host, port or DEFAULT_PORTS[scheme], scheme == "mqtts")
